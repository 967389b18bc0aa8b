"""``/api/incidents``: incidents as GeoJSON, filtered by place, time and kind."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query

from api.deps import SessionDep
from api.geojson import feature_collection, point_feature
from geo import incidents
from geo.bbox import BBox

router = APIRouter(prefix="/api/incidents", tags=["incidents"])


@router.get("")
def list_incidents(
    session: SessionDep,
    bbox: str | None = Query(None, description="min_lon,min_lat,max_lon,max_lat"),
    start: dt.datetime | None = Query(None, description="occurred_at >= start (ISO 8601)"),
    end: dt.datetime | None = Query(None, description="occurred_at < end (ISO 8601)"),
    kind: str | None = Query(None),
    status: str | None = Query(None),
    limit: int = Query(1000, ge=1, le=10000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Incidents as a GeoJSON FeatureCollection, newest first."""
    box = BBox.parse(bbox) if bbox else None
    rows, total = incidents.list_incidents(session, bbox=box, start=start, end=end, kind=kind,
                                           status=status, limit=limit, offset=offset)
    return feature_collection(rows, total=total, limit=limit, offset=offset)


@router.get("/{incident_id}")
def get_incident(incident_id: int, session: SessionDep) -> dict[str, Any]:
    return point_feature(incidents.get_incident(session, incident_id))
