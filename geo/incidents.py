"""Incident queries: listing by place, time and kind."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.bbox import BBox
from geo.errors import InvalidInput, NotFound
from geo.models import Incident
from geo.models.core import INCIDENT_KINDS, INCIDENT_STATUSES

INCIDENT_FIELDS = (
    "id",
    "kind",
    "case_number",
    "priority",
    "occurred_at",
    "status",
    "description",
    "source",
    "external_id",
    "created_by",
    "created_at",
    "updated_at",
)


def incident_columns() -> list[Any]:
    cols: list[Any] = [getattr(Incident, f) for f in INCIDENT_FIELDS]
    return [*cols, func.ST_X(Incident.geom).label("lon"), func.ST_Y(Incident.geom).label("lat")]


def list_incidents(
    session: Session,
    *,
    bbox: BBox | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Incidents filtered by bbox, ``start <= occurred_at < end``, kind and status; (page, total)."""
    if kind is not None and kind not in INCIDENT_KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(INCIDENT_KINDS)}, got {kind!r}", field="kind"
        )
    if status is not None and status not in INCIDENT_STATUSES:
        raise InvalidInput(
            f"status must be one of {', '.join(INCIDENT_STATUSES)}, got {status!r}", field="status"
        )
    if start and end and start > end:
        raise InvalidInput("start must not be after end", field="start")
    conds: list[Any] = []
    if bbox is not None:
        env = func.ST_MakeEnvelope(bbox.min_lon, bbox.min_lat, bbox.max_lon, bbox.max_lat, 4326)
        conds.append(Incident.geom.op("&&")(env))
    if start is not None:
        conds.append(Incident.occurred_at >= start)
    if end is not None:
        conds.append(Incident.occurred_at < end)
    if kind:
        conds.append(Incident.kind == kind)
    if status:
        conds.append(Incident.status == status)
    q = select(*incident_columns())
    cq = select(func.count()).select_from(Incident)
    for c in conds:
        q = q.where(c)
        cq = cq.where(c)
    rows = (
        session.execute(
            q.order_by(Incident.occurred_at.desc(), Incident.id.desc()).limit(limit).offset(offset)
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows], int(session.execute(cq).scalar_one())


def get_incident(session: Session, incident_id: int) -> dict[str, Any]:
    row = (
        session.execute(select(*incident_columns()).where(Incident.id == incident_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist", field="incident_id")
    return dict(row)
