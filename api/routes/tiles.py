"""``/ogc/collections/{collectionId}/tiles``: vector tiles (MVT) of the GIS collections and their
TileJSON 3.0 description, for MapLibre (the console), QGIS and GDAL's ``MVT`` driver.

Thin: tiles are cut by :mod:`geo.tiles`; the access rules are those of OGC API - Features
(:mod:`geo.features.access`: role and registered address through the gate, a collection the role
may not read answers 404 like an unknown one, reads of personal data audited before the tile
leaves). Tiles depend on the caller's role, so they are cached privately and briefly
(``Cache-Control: private``, an ``ETag`` of the body, ``304`` on ``If-None-Match``).

An empty tile is ``204 No Content`` (MapLibre draws nothing and asks no further; GDAL reads it as
an empty layer). A tile outside the quad (``z`` beyond 0..22, ``x``/``y`` beyond 0..2^z-1) is
404 naming the parameter; a non-integer is 400 naming it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from api.deps import ClientIP, CurrentUser, SessionDep, token_claims
from geo import tiles
from geo.features import access

router = APIRouter(prefix="/ogc", tags=["ogc"], dependencies=[Depends(token_claims)])

MVT = "application/vnd.mapbox-vector-tile"
#: Private (per role) and short: a tile changes with every load.
CACHE_CONTROL = "private, max-age=60"

_TileInt = Annotated[int, Path(description="tile coordinate (integer)")]


@router.get(
    "/collections/{collectionId}/tiles/{z}/{x}/{y}",
    response_class=Response,
    responses={
        200: {"content": {MVT: {}}, "description": "The tile (Mapbox Vector Tile 2.1)"},
        204: {"description": "An empty tile"},
        304: {"description": "Not modified (If-None-Match)"},
    },
)
def get_tile(
    collectionId: str,
    z: _TileInt,
    x: _TileInt,
    y: _TileInt,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
) -> Response:
    """One vector tile (XYZ, Web Mercator): one layer named after the collection, the
    properties the caller's role may see; points clustered at low zoom (``count``)."""
    tiles.check_tile(z=z, x=x, y=y)
    c = access.open_collection(session, user=user, client_ip=ip, collection_id=collectionId)
    body = tiles.tile(session, collection=c.id, z=z, x=x, y=y, role=user.role)
    tiles.record_tile_read(session, user=user, client_ip=ip, collection=c, z=z, x=x, y=y, body=body)
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag, "Vary": "Authorization, Cookie"}
    if etag in (request.headers.get("if-none-match") or ""):
        return Response(status_code=304, headers=headers)
    if not body:
        return Response(status_code=204, headers=headers)
    return Response(body, media_type=MVT, headers=headers)


@router.get("/collections/{collectionId}/tiles")
def get_tilejson(
    collectionId: str, request: Request, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> Response:
    """The collection's TileJSON 3.0.0: the tile URL template, zooms and the layer's fields."""
    c = access.open_collection(session, user=user, client_ip=ip, collection_id=collectionId)
    base = str(request.base_url).rstrip("/")
    url = f"{base}/ogc/collections/{c.id}/tiles/{{z}}/{{x}}/{{y}}"
    doc = tiles.tilejson(collection=c.id, role=user.role, tiles_url=url)
    doc["links"] = [
        {"href": f"{base}/ogc/collections/{c.id}/tiles", "rel": "self", "type": "application/json"},
        {"href": url, "rel": "item", "type": MVT, "templated": True},
        {"href": f"{base}/ogc/collections/{c.id}", "rel": "collection", "type": "application/json"},
    ]
    return Response(
        json.dumps(doc),
        media_type="application/json",
        headers={"Cache-Control": CACHE_CONTROL, "Vary": "Authorization, Cookie"},
    )
