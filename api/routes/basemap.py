"""``/api/basemap``, ``/api/cameras/views`` and ``/api/config``: what the console's map needs
besides the registry (any signed-in role)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.deps import CurrentUser, SessionDep
from api.geojson import json_response
from api.validation import BBoxStr
from geo import __version__, basemap
from geo.access.roles import PERMISSIONS, has_permission
from geo.access.users import user_dict
from geo.bbox import BBox
from geo.settings import get_settings

router = APIRouter(prefix="/api", tags=["console"])

_BBOX = Query(
    ...,
    description="min_lon,min_lat,max_lon,max_lat (EPSG:4326), at most "
    f"{basemap.MAX_SPAN_DEG} degrees each way",
    examples=["24.940,60.165,24.950,60.172"],
)


@router.get("/basemap")
def get_basemap(
    session: SessionDep,
    bbox: Annotated[BBoxStr, _BBOX],
    limit: int = Query(basemap.MAX_FEATURES, ge=1, le=basemap.MAX_FEATURES),
) -> dict[str, Any]:
    """Roads and buildings in ``bbox`` from PostGIS as GeoJSON: a base layer with no tile server."""
    return basemap.basemap_features(session, bbox=BBox.parse(bbox), limit=limit)


@router.get("/cameras/views")
def get_camera_views(
    session: SessionDep,
    bbox: Annotated[BBoxStr, _BBOX],
    limit: int = Query(5000, ge=1, le=basemap.MAX_FEATURES),
) -> dict[str, Any]:
    """The field-of-view polygons (viewsheds cut by buildings) of the cameras in ``bbox``."""
    return basemap.camera_views_in(session, bbox=BBox.parse(bbox), limit=limit)


@router.get("/cameras/points")
def get_camera_points(session: SessionDep) -> Response:
    """Every camera of the registry as compact columns (``id``, ``lon``, ``lat``, ``purpose``
    code into ``purposes``, ``direction_known`` 0/1): the console's whole-registry map layer."""
    return json_response(basemap.camera_points(session))


@router.get("/cameras/clusters")
def get_camera_clusters(
    session: SessionDep,
    bbox: str = Query(..., description="min_lon,min_lat,max_lon,max_lat (EPSG:4326)"),
    zoom: float = Query(..., description="map zoom (0..24); single cameras from 15 on"),
) -> Response:
    """The registry in a box grouped for a map zoom (count, mean position, main purpose per
    cell of ~48 screen pixels): the console's far-out layer at any registry size."""
    return json_response(basemap.camera_clusters(session, bbox=BBox.parse(bbox), zoom=zoom))


@router.get("/config")
def get_config(user: CurrentUser) -> dict[str, Any]:
    """The console's settings for this user: who they are, what their role may do (from the one
    role table), the optional raster tile URL and the default video-request size."""
    s = get_settings()
    return {
        "version": __version__,
        "user": {k: v for k, v in user_dict(user).items() if k != "allowed_cidrs"},
        "permissions": sorted(p for p in PERMISSIONS if has_permission(user.role, p)),
        "tile_url": s.tile_url,
        "tile_attribution": s.tile_attribution,
        "video_request_k": s.video_request_k,
    }
