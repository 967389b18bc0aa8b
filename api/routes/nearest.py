"""``GET /api/cameras/nearest``: the k best cameras for a point (see :mod:`geo.nearest`).

A module of its own under the ``/api/cameras`` prefix; ``api/routes/cameras.py`` declares its
item route as ``/{camera_id:int}`` so that ``/api/cameras/nearest`` is never taken for an id,
whatever order the routers are included in.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import Claims, ReaderDep
from api.geojson import feature_collection, json_response, public_camera
from geo import nearest

router = APIRouter(prefix="/api/cameras", tags=["cameras"])
#: The responders' hot path is matched before every other route (api/main.py).
ROUTE_ORDER = 0


@router.get("/nearest")
async def nearest_cameras(
    reader: ReaderDep,
    claims: Claims,
    lat: float = Query(
        ..., ge=-90, le=90, description="WGS84 latitude of the scene", examples=[36.3620]
    ),
    lon: float = Query(
        ..., ge=-180, le=180, description="WGS84 longitude of the scene", examples=[127.3440]
    ),
    k: int = Query(5, ge=1, le=nearest.MAX_K, description="how many cameras"),
    max_distance_m: float | None = Query(
        None, ge=0, le=100_000, description="drop cameras farther than this"
    ),
) -> Response:
    """The k best cameras for a point as GeoJSON, best first.

    Cameras that see the point come first, then PTZ cameras within range that can turn to it,
    then the nearest; each feature carries ``distance_m``, ``bearing_deg`` (camera to point),
    ``in_view``, ``pan_deg``, ``line_of_sight``, ``network_distance_m``, ``rank`` and ``reason``.
    """
    # async on a read-only autocommit connection: no thread hop, no BEGIN/COMMIT (the token
    # check shares the connection); the ranking is the same plan the sync callers run
    rows = await nearest.nearest_cameras_async(
        reader, lat=lat, lon=lon, k=k, max_distance_m=max_distance_m
    )
    query = {"lat": lat, "lon": lon, "k": k, "max_distance_m": max_distance_m}
    # the records are plain JSON types already (api.geojson): skip jsonable_encoder, which costs
    # more than the query itself on this hot path (see docs/benchmarks.md)
    role = claims["role"]
    return json_response(feature_collection([public_camera(r, role) for r in rows], query=query))
