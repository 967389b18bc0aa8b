"""``/ogc``: OGC API - Features (Part 1 Core, GeoJSON, OpenAPI 3.0; Part 3 filtering with CQL2
text) for GIS clients such as QGIS and GDAL's ``OAPIF`` driver.

Thin: the collections, their per-role fields and the queries live in :mod:`geo.features`; the
access rules (bearer token, registered address, per-role collections, audit of personal data)
are those of every other route (:func:`api.deps.token_claims`, :mod:`geo.features.access`).
Bad parameters answer 400 naming the parameter (api/errors.py maps ``InvalidInput`` under
``/ogc`` to 400, as the standard asks).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response

from api.deps import ClientIP, CurrentUser, SessionDep, token_claims
from geo.features import access, items
from geo.features.collections import Collection, collections_for
from geo.features.openapi import openapi_document, queryables
from geo.times import now_utc

router = APIRouter(prefix="/ogc", tags=["ogc"], dependencies=[Depends(token_claims)])

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA = "application/schema+json"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"

#: The conformance classes claimed; each is exercised by tests/test_ogc_features.py.
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
]

_HEADERS = {"Cache-Control": "private, no-store"}


class JSONDoc(Response):
    """A JSON document of the OGC API (declared so in the OpenAPI)."""

    media_type = JSON


class GeoJSONDoc(Response):
    """Features (``application/geo+json``)."""

    media_type = GEOJSON


class OpenAPIDoc(Response):
    """The OpenAPI 3.0 definition (``service-desc``)."""

    media_type = OPENAPI


class SchemaDoc(Response):
    """A JSON Schema (queryables)."""

    media_type = SCHEMA


def _ok(cls: type[Response], what: str) -> dict[int | str, dict[str, Any]]:
    """The 200 answer of a route as the OpenAPI declares it: a JSON object of ``cls``'s type."""
    return {200: {"description": what, "content": {cls.media_type: {"schema": {"type": "object"}}}}}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _json(body: Any, cls: type[Response] = JSONDoc) -> Response:
    return cls(json.dumps(body), headers=_HEADERS)


def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


@router.get("", response_class=JSONDoc, responses=_ok(JSONDoc, "the landing page"))
def landing(request: Request) -> Response:
    """The landing page: links to the API definition, the conformance list and the data."""
    b = _base(request)
    return _json(
        {
            "title": "goldentime",
            "description": "CCTV control-centre layers (cameras, fields of view, roads, "
            "buildings, incidents, coverage gaps) for GIS clients. Bearer token required.",
            "links": [
                _link(b, "self", JSON, "this document"),
                _link(f"{b}/api", "service-desc", OPENAPI, "the API definition (OpenAPI 3.0)"),
                _link(f"{b}/conformance", "conformance", JSON, "conformance classes"),
                _link(f"{b}/collections", "data", JSON, "the collections"),
            ],
        }
    )


@router.get(
    "/conformance", response_class=JSONDoc, responses=_ok(JSONDoc, "the conformance classes")
)
def conformance() -> Response:
    """The conformance classes this service implements."""
    return _json({"conformsTo": CONFORMANCE})


@router.get(
    "/api", response_class=OpenAPIDoc, responses=_ok(OpenAPIDoc, "the OpenAPI 3.0 definition")
)
def api_definition(request: Request, user: CurrentUser) -> Response:
    """The OpenAPI 3.0 definition of this OGC API (the collections the caller's role reads)."""
    return _json(
        openapi_document(_base(request), collections_for(user.role), user.role), OpenAPIDoc
    )


def _collection_doc(
    request: Request, session: SessionDep, c: Collection, role: str | None
) -> dict[str, Any]:
    b = f"{_base(request)}/collections/{c.id}"
    doc: dict[str, Any] = {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "crs": [items.CRS84],
        "links": [
            _link(b, "self", JSON, c.title),
            _link(f"{b}/items", "items", GEOJSON, f"{c.title} (GeoJSON)"),
            _link(f"{b}/queryables", QUERYABLES_REL, SCHEMA, "queryable properties"),
            # the properties' JSON schema, for clients that type fields from it
            _link(f"{b}/queryables", "describedby", SCHEMA, "schema of the properties"),
        ],
    }
    ext = items.extent(session, c, role)
    if ext is not None:
        doc["extent"] = ext
    return doc


@router.get("/collections", response_class=JSONDoc, responses=_ok(JSONDoc, "the collections"))
def list_collections(
    request: Request, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> Response:
    """The collections the caller's role may read (others are not listed)."""
    docs = []
    for c in collections_for(user.role):
        access.open_collection(session, user=user, client_ip=ip, collection_id=c.id)
        docs.append(_collection_doc(request, session, c, user.role))
    b = _base(request)
    return _json({"links": [_link(f"{b}/collections", "self", JSON)], "collections": docs})


@router.get(
    "/collections/{collectionId}", response_class=JSONDoc, responses=_ok(JSONDoc, "one collection")
)
def get_collection(
    collectionId: str, request: Request, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> Response:
    """One collection's description; 404 when unknown or not readable by the caller's role."""
    c = access.open_collection(session, user=user, client_ip=ip, collection_id=collectionId)
    return _json(_collection_doc(request, session, c, user.role))


@router.get(
    "/collections/{collectionId}/queryables",
    response_class=SchemaDoc,
    responses=_ok(SchemaDoc, "the queryables (JSON Schema)"),
)
def get_queryables(
    collectionId: str, request: Request, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> Response:
    """The properties the caller may filter on (JSON Schema), for ``filter`` and ``?prop=``."""
    c = access.open_collection(session, user=user, client_ip=ip, collection_id=collectionId)
    return _json(queryables(_base(request), c, user.role), SchemaDoc)


@router.get(
    "/collections/{collectionId}/items",
    response_class=GeoJSONDoc,
    responses=_ok(GeoJSONDoc, "a GeoJSON FeatureCollection"),
)
def get_items(
    collectionId: str,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
    # declared for the OpenAPI only (all read, with the property filters, by items.parse_query)
    bbox: str | None = Query(None, description="minx,miny,maxx,maxy (CRS84 lon/lat)"),
    bbox_crs: str | None = Query(None, alias="bbox-crs", description="only CRS84"),
    datetime: str | None = Query(None, description="instant, a/b, ../b or a/.. (RFC 3339)"),
    limit: str | None = Query(None, description="page size, default 10; above 10000 clamped"),
    offset: str | None = Query(None, description="features to skip"),
    after: str | None = Query(None, description="cursor of next links (ids above it)"),
    filter: str | None = Query(None, description="CQL2 text, e.g. purpose='traffic'"),
    filter_lang: str | None = Query(None, alias="filter-lang", description="cql2-text"),
) -> Response:
    """Features as GeoJSON: ``bbox``, ``datetime``, ``limit`` (max 10000, larger clamped),
    ``offset``, ``?property=value`` and ``filter`` (CQL2 text); ``next``/``prev`` links."""
    c = access.open_collection(session, user=user, client_ip=ip, collection_id=collectionId)
    q = items.parse_query(c, user.role, request.query_params)
    page = items.query_items(session, collection=c, role=user.role, query=q)
    access.record_read(session, user=user, client_ip=ip, collection=c, ids=page.ids, query=q.echo)
    href = f"{_base(request)}/collections/{c.id}/items"

    def at(offset: int, after: Any = None) -> str:
        args = {k: v for k, v in q.echo.items() if k != "after"}
        args |= {"offset": str(offset), "limit": str(q.limit)}
        if after is not None:
            args["after"] = str(after)
        return f"{href}?{urlencode(args)}"

    links = [_link(at(q.offset, q.after), "self", GEOJSON, "this page")]
    if q.offset + page.number_returned < page.number_matched:
        nxt = at(q.offset + page.number_returned, page.ids[-1] if page.ids else None)
        links.append(_link(nxt, "next", GEOJSON, "next page"))
    if q.offset > 0:
        links.append(_link(at(max(0, q.offset - q.limit)), "prev", GEOJSON, "previous page"))
    links.append(_link(f"{_base(request)}/collections/{c.id}", "collection", JSON, c.title))
    rest = {
        "numberMatched": page.number_matched,
        "numberReturned": page.number_returned,
        "timeStamp": now_utc().isoformat().replace("+00:00", "Z"),
        "links": links,
    }
    body = (
        '{"type":"FeatureCollection","features":' + page.features_json + "," + json.dumps(rest)[1:]
    )
    return GeoJSONDoc(body, headers=_HEADERS)


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    response_class=GeoJSONDoc,
    responses=_ok(GeoJSONDoc, "a GeoJSON Feature"),
)
def get_item(
    collectionId: str,
    featureId: str,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
) -> Response:
    """One feature as GeoJSON; 404 when absent."""
    c = access.open_collection(session, user=user, client_ip=ip, collection_id=collectionId)
    f = request.query_params.get("f")
    if f is not None:
        items.parse_query(c, user.role, {"f": f})
    feature = items.get_item(session, collection=c, role=user.role, feature_id=featureId)
    fid = json.loads(feature)["id"]
    access.record_read(
        session, user=user, client_ip=ip, collection=c, ids=[fid], feature_id=featureId
    )
    b = f"{_base(request)}/collections/{c.id}"
    links = [
        _link(f"{b}/items/{quote(featureId, safe='')}", "self", GEOJSON, "this feature"),
        _link(b, "collection", JSON, c.title),
    ]
    body = feature[:-1] + ',"links":' + json.dumps(links) + "}"
    return GeoJSONDoc(body, headers=_HEADERS)
