"""GeoJSON at the edge: records with ``lon``/``lat`` (or a ``geometry`` dict) become Features."""

from __future__ import annotations

import datetime as dt
from typing import Any


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


def point_feature(rec: dict[str, Any]) -> dict[str, Any]:
    """A Feature whose geometry is the record's lon/lat (or its ``geometry``) and the rest properties."""
    props = {k: _jsonable(v) for k, v in rec.items() if k not in ("lon", "lat", "geometry")}
    geom = rec.get("geometry") or {"type": "Point", "coordinates": [rec["lon"], rec["lat"]]}
    return {"type": "Feature", "id": rec.get("id"), "geometry": geom, "properties": props}


def feature_collection(records: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [point_feature(r) for r in records],
    }
    out.update(meta)
    return out
