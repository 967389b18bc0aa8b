"""Incidents: register, update (open -> closed) and list by place, time, kind and status."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.bbox import BBox, check_lat_lon
from geo.errors import Conflict, InvalidInput, NotFound
from geo.models import Incident
from geo.models.core import INCIDENT_KINDS, INCIDENT_STATUSES
from geo.times import aware, check_window, now_utc

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
    "agency_id",
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
    start, end = check_window(start, end)
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


#: Fields a PATCH may change.
UPDATABLE_FIELDS = (
    "kind",
    "case_number",
    "priority",
    "occurred_at",
    "status",
    "description",
    "lat",
    "lon",
)


def _check_fields(values: dict[str, Any]) -> None:
    kind = values.get("kind")
    if kind is not None and kind not in INCIDENT_KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(INCIDENT_KINDS)}, got {kind!r}", field="kind"
        )
    status = values.get("status")
    if status is not None and status not in INCIDENT_STATUSES:
        raise InvalidInput(
            f"status must be one of {', '.join(INCIDENT_STATUSES)}, got {status!r}", field="status"
        )
    priority = values.get("priority")
    if priority is not None and not 1 <= int(priority) <= 5:
        raise InvalidInput(f"priority must be within 1..5, got {priority}", field="priority")
    case = values.get("case_number")
    if case is not None and len(case) > 64:
        raise InvalidInput("case_number must be at most 64 characters", field="case_number")


def create_incident(
    session: Session,
    *,
    kind: str,
    lat: float,
    lon: float,
    occurred_at: dt.datetime | None = None,
    case_number: str | None = None,
    priority: int = 3,
    description: str | None = None,
    created_by: str | None = None,
    agency_id: int | None = None,
    source: str = "api",
) -> dict[str, Any]:
    """Register an incident at ``lat``/``lon`` (EPSG:4326), ``occurred_at`` defaulting to now.

    Times without an offset are taken as KST. ``agency_id`` is the owning agency (the
    registering user's; ``None`` = the control centre), which alone with the centre may change
    it (:mod:`geo.access.policy`). Returns the stored record (as :func:`get_incident`).
    """
    check_lat_lon(lat, lon)
    _check_fields({"kind": kind, "priority": priority, "case_number": case_number})
    inc = Incident(
        kind=kind,
        case_number=case_number,
        priority=priority,
        occurred_at=aware(occurred_at, field="occurred_at") or now_utc(),
        geom=func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326),
        status="open",
        description=description,
        source=source,
        created_by=created_by,
        agency_id=agency_id,
    )
    session.add(inc)
    session.flush()
    return get_incident(session, inc.id)


def update_incident(session: Session, incident_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change some fields of an incident. Status only moves open -> closed (:class:`Conflict`
    otherwise); moving it needs both ``lat`` and ``lon``."""
    unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(unknown)}", field=unknown[0])
    for f in ("kind", "status", "occurred_at", "priority", "lat", "lon"):
        if f in changes and changes[f] is None:
            raise InvalidInput(f"{f} must not be null", field=f)
    _check_fields(changes)
    inc = session.get(Incident, incident_id)
    if inc is None:
        raise NotFound(f"incident {incident_id} does not exist", field="incident_id")
    if "status" in changes and changes["status"] != inc.status and inc.status == "closed":
        raise Conflict(f"incident {incident_id} is closed; it cannot be reopened", field="status")
    if ("lat" in changes) != ("lon" in changes):
        raise InvalidInput(
            "give lat and lon together", field="lat" if "lat" not in changes else "lon"
        )
    if "lat" in changes:
        check_lat_lon(changes["lat"], changes["lon"])
        inc.geom = func.ST_SetSRID(func.ST_MakePoint(changes["lon"], changes["lat"]), 4326)
    for f in ("kind", "case_number", "priority", "status", "description"):
        if f in changes:
            setattr(inc, f, changes[f])
    if "occurred_at" in changes:
        inc.occurred_at = aware(changes["occurred_at"], field="occurred_at")  # type: ignore[assignment]
    inc.updated_at = func.now()
    session.flush()
    return get_incident(session, incident_id)
