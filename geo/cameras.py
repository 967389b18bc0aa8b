"""Camera registry queries: listing, lookup, and the row-to-dict shape every layer shares."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from geo.bbox import BBox
from geo.errors import InvalidInput, NotFound
from geo.models import Camera

CAMERA_FIELDS = (
    "id",
    "source",
    "external_id",
    "name",
    "purpose",
    "agency",
    "address",
    "heading_deg",
    "fov_deg",
    "range_m",
    "camera_type",
    "camera_count",
    "resolution_px",
    "ptz",
    "ptz_presets",
    "stream_url",
    "status",
    "retention_days",
    "installed_on",
    "updated_at",
)


def camera_columns() -> list[Any]:
    """Columns selected for a camera record: the attributes plus lon/lat of its point."""
    cols: list[Any] = [getattr(Camera, f) for f in CAMERA_FIELDS]
    return [*cols, func.ST_X(Camera.geom).label("lon"), func.ST_Y(Camera.geom).label("lat")]


def list_cameras(
    session: Session,
    *,
    bbox: BBox | None = None,
    purpose: str | None = None,
    source: str | None = None,
    search: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Cameras in ``bbox`` (and of ``purpose``/``source``, and whose name, address or external
    id contains ``search``, case-insensitive), ordered by id; returns (page, total)."""
    q = select(*camera_columns())
    cq = select(func.count()).select_from(Camera)
    conds: list[Any] = []
    if bbox is not None:
        env = func.ST_MakeEnvelope(bbox.min_lon, bbox.min_lat, bbox.max_lon, bbox.max_lat, 4326)
        conds.append(Camera.geom.op("&&")(env))
    if purpose:
        conds.append(Camera.purpose == purpose)
    if source:
        conds.append(Camera.source == source)
    if search is not None and search.strip():
        if len(search) > 200:
            raise InvalidInput("q may have at most 200 characters", field="q")
        esc = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pat = f"%{esc}%"
        conds.append(
            or_(
                Camera.name.ilike(pat, escape="\\"),
                Camera.address.ilike(pat, escape="\\"),
                Camera.external_id.ilike(pat, escape="\\"),
            )
        )
    for c in conds:
        q = q.where(c)
        cq = cq.where(c)
    rows = session.execute(q.order_by(Camera.id).limit(limit).offset(offset)).mappings().all()
    total = session.execute(cq).scalar_one()
    return [dict(r) for r in rows], int(total)


def get_camera(session: Session, camera_id: int) -> dict[str, Any]:
    """One camera as a dict; :class:`NotFound` naming the id otherwise."""
    row = (
        session.execute(select(*camera_columns()).where(Camera.id == camera_id)).mappings().first()
    )
    if row is None:
        raise NotFound(f"camera {camera_id} does not exist", field="camera_id")
    return dict(row)
