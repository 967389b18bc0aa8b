"""GeoJSON at the edge: records with ``lon``/``lat`` (or a ``geometry`` dict) become Features."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from fastapi.responses import Response

from geo.access.roles import has_permission

_DATES = (dt.datetime, dt.date)  # a tuple: isinstance on a union type is several times slower
_NOT_PROPERTIES = frozenset(("lon", "lat", "geometry"))


def point_feature(rec: dict[str, Any]) -> dict[str, Any]:
    """A Feature whose geometry is the record's lon/lat (or its ``geometry``) and the rest properties."""
    # dates as ISO 8601 text, inline (a nearest answer has ~40 values per feature)
    props = {
        k: (v.isoformat() if isinstance(v, _DATES) else v)
        for k, v in rec.items()
        if k not in _NOT_PROPERTIES
    }
    geom = rec.get("geometry") or {"type": "Point", "coordinates": [rec["lon"], rec["lat"]]}
    return {"type": "Feature", "id": rec.get("id"), "geometry": geom, "properties": props}


def feature_collection(records: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [point_feature(r) for r in records],
    }
    out.update(meta)
    return out


def json_response(content: Any, status_code: int = 200) -> Response:
    """A JSON response serialised by orjson (dates as ISO 8601, NaN as null); for hot paths
    whose content is plain JSON types already (no ``jsonable_encoder`` pass)."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status_code,
        media_type="application/json",
    )


def public_camera(rec: dict[str, Any], role: str | None) -> dict[str, Any]:
    """A camera record as it may leave the API: the video source URL (it may hold RTSP
    credentials) is shown to admins only; others reach video only through the egress endpoints
    and their access gate. ``has_stream`` says whether there is one."""
    out = dict(rec)
    if "stream_url" in out:
        out["has_stream"] = bool(out["stream_url"])
        if not has_permission(role, "stream_urls"):
            out["stream_url"] = None
    return out
