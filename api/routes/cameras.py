"""``/api/cameras``: the camera registry as GeoJSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.deps import CurrentUser, SessionDep
from api.geojson import feature_collection, point_feature, public_camera
from api.validation import BBoxStr, Int32Id, Offset, SafeStr
from geo import cameras
from geo.bbox import BBox

router = APIRouter(prefix="/api/cameras", tags=["cameras"])


@router.get("")
def list_cameras(
    session: SessionDep,
    user: CurrentUser,
    bbox: BBoxStr | None = Query(
        None,
        description="min_lon,min_lat,max_lon,max_lat (EPSG:4326)",
        examples=["127.30,36.30,127.40,36.40"],
    ),
    purpose: SafeStr | None = Query(None),
    source: SafeStr | None = Query(None),
    q: SafeStr | None = Query(
        None, max_length=200, description="text in the name, address or external id"
    ),
    limit: int = Query(1000, ge=1, le=10000),
    offset: Offset = 0,
) -> dict[str, Any]:
    """Cameras in a bounding box as a GeoJSON FeatureCollection, paged by ``limit``/``offset``."""
    box = BBox.parse(bbox) if bbox else None
    rows, total = cameras.list_cameras(
        session, bbox=box, purpose=purpose, source=source, search=q, limit=limit, offset=offset
    )
    return feature_collection(
        [public_camera(r, user.role) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{camera_id:int}")  # :int so /api/cameras/nearest etc. never land here
def get_camera(camera_id: Int32Id, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """One camera as a GeoJSON Feature."""
    return point_feature(public_camera(cameras.get_camera(session, camera_id), user.role))
