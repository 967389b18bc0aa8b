"""The OpenAPI 3.0 definition of the OGC API - Features edge (``service-desc``) and the
queryables (JSON Schema) of a collection, both built from the registry for the caller's role.

FastAPI's own ``/openapi.json`` is OpenAPI 3.1 and covers the whole service; the standard's
``oas30`` class asks for a 3.0 document describing these endpoints, which this is.
"""

from __future__ import annotations

from typing import Any

from geo.features.collections import Collection
from geo.features.items import DEFAULT_LIMIT, MAX_LIMIT

_SCHEMA_TYPES: dict[str, dict[str, str]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
}

_GEOMETRY_REF = {
    "Point": "https://geojson.org/schema/Point.json",
    "LineString": "https://geojson.org/schema/LineString.json",
    "Polygon": "https://geojson.org/schema/Polygon.json",
    "MultiPolygon": "https://geojson.org/schema/MultiPolygon.json",
}


def queryables(base: str, c: Collection, role: str | None) -> dict[str, Any]:
    """The collection's queryables for ``role``: a JSON Schema of the properties it may filter
    on (``filter`` and ``?property=value``), plus the geometry."""
    props: dict[str, Any] = {
        p.name: {"title": p.name, **_SCHEMA_TYPES[p.type]}
        | ({"description": p.description} if p.description else {})
        for p in c.properties_for(role)
    }
    props["geometry"] = {"$ref": _GEOMETRY_REF[c.geometry_type]}
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{base}/collections/{c.id}/queryables",
        "type": "object",
        "title": c.title,
        "properties": props,
        "additionalProperties": False,
    }


def _param(name: str, schema: dict[str, Any], desc: str, *, path: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "in": "path" if path else "query",
        "required": path,
        "description": desc,
        "schema": schema,
    }
    if not path:
        out["style"] = "form"
        out["explode"] = False
    return out


def _ok(desc: str, media: str) -> dict[str, Any]:
    return {"description": desc, "content": {media: {"schema": {"type": "object"}}}}


_ERRORS = {
    "400": {"description": "A parameter is malformed; the answer names it."},
    "401": {"description": "Missing, forged, expired or disabled bearer token."},
    "403": {"description": "The client address is not registered for the user."},
    "404": {"description": "No such collection or feature (or not readable by this role)."},
}


def openapi_document(base: str, collections: list[Collection], role: str | None) -> dict[str, Any]:
    """An OpenAPI 3.0.3 document of ``/ogc`` for the collections ``role`` may read."""
    ids = [c.id for c in collections]
    cid = _param("collectionId", {"type": "string", "enum": ids}, "collection id", path=True)
    fid = _param("featureId", {"type": "string"}, "feature id", path=True)
    item_params = [
        cid,
        _param(
            "bbox",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
            "minx,miny,maxx,maxy in CRS84 (lon/lat)",
        ),
        _param("bbox-crs", {"type": "string", "format": "uri"}, "only CRS84"),
        _param("datetime", {"type": "string"}, "instant, a/b, ../b or a/.. (RFC 3339)"),
        _param(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            f"page size; above {MAX_LIMIT} is clamped",
        ),
        _param("offset", {"type": "integer", "minimum": 0, "default": 0}, "features to skip"),
        _param("after", {"type": "string"}, "cursor of next links: features with a larger id"),
        _param("filter", {"type": "string"}, "CQL2 text (basic comparisons, AND/OR/NOT)"),
        _param("filter-lang", {"type": "string", "enum": ["cql2-text"]}, "only cql2-text"),
    ]
    json_ok = "application/json"
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "landing page", "operationId": "getLandingPage"}},
        "/conformance": {
            "get": {"summary": "conformance classes", "operationId": "getConformance"}
        },
        "/collections": {"get": {"summary": "the collections", "operationId": "getCollections"}},
        "/collections/{collectionId}": {
            "get": {
                "summary": "one collection",
                "operationId": "describeCollection",
                "parameters": [cid],
            }
        },
        "/collections/{collectionId}/queryables": {
            "get": {"summary": "queryables", "operationId": "getQueryables", "parameters": [cid]}
        },
        "/collections/{collectionId}/items": {
            "get": {"summary": "features", "operationId": "getFeatures", "parameters": item_params}
        },
        "/collections/{collectionId}/items/{featureId}": {
            "get": {"summary": "one feature", "operationId": "getFeature", "parameters": [cid, fid]}
        },
    }
    for p, ops in paths.items():
        media = "application/geo+json" if "/items" in p else json_ok
        media = "application/schema+json" if p.endswith("queryables") else media
        ops["get"]["responses"] = {"200": _ok("success", media), **_ERRORS}
        ops["get"].setdefault("parameters", [])
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "goldentime OGC API - Features",
            "version": "1.0.0",
            "description": "Layers for GIS clients; send 'Authorization: Bearer <token>'.",
        },
        "servers": [{"url": base}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
