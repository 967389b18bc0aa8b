"""Cameras from OSM files (``man_made=surveillance`` nodes of ``.osm`` / ``.osm.pbf``, read with
pyosmium) and from GeoJSON Point features.

A GeoJSON feature exported from OSM (``osm_id`` and ``all_tags`` with ``man_made=surveillance``)
is read by the OSM tag rules, so one camera gets the same row from either file; other features
take the ``cameras`` columns from their properties.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geo.errors import LoadError
from geo.load.cameras_directions import osm_direction
from geo.load.cameras_rows import KR_PURPOSE, PURPOSES, _camera_row, _point_wkt, _row_id
from geo.load.common import Reject, check_wgs84, parse_float


def _from_osm_tags(
    n: int, osm_id: str, lat: float | None, lon: float | None, tags: dict[str, str]
) -> dict[str, Any] | Reject:
    if (why := check_wgs84(lat, lon)) is not None:
        return Reject(n, why, "lat/lon", f"{lat},{lon}")
    stype = tags.get("surveillance:type", "camera").lower()
    if stype not in ("camera", "alpr", ""):
        return Reject(n, f"not a camera: surveillance:type={stype}", "surveillance:type", osm_id)
    ctype = (tags.get("camera:type") or "").lower() or None
    zone = (tags.get("surveillance:zone") or "").lower()
    purpose = "traffic" if stype == "alpr" or zone == "traffic" else "other"
    angle = parse_float(tags.get("camera:angle"))
    return _camera_row(
        source="osm",
        external_id=f"node/{osm_id}",
        name=tags.get("name") or None,
        purpose=purpose,
        agency=tags.get("operator") or None,
        address=tags.get("addr:street") or None,
        geom=_point_wkt(lon, lat),
        heading_deg=osm_direction(tags.get("camera:direction")),
        tilt_deg=angle,
        camera_type=ctype,
        ptz=ctype in ("dome", "panning") or tags.get("revolving") == "yes",
        raw=tags,
    )


def _osm_nodes(path: Path) -> list[tuple[int, str, float | None, float | None, dict[str, str]]]:
    import osmium

    out = []
    fp = osmium.FileProcessor(str(path), osmium.osm.NODE)
    for i, obj in enumerate(fp, start=1):
        tags = {t.k: t.v for t in obj.tags}
        if tags.get("man_made") != "surveillance":
            continue
        loc = obj.location  # type: ignore[union-attr]
        lat = loc.lat if loc.valid() else None
        lon = loc.lon if loc.valid() else None
        out.append((i, str(obj.id), lat, lon, tags))
    return out


def _geojson_features(path: Path) -> list[tuple[int, dict[str, Any]]]:
    from geo.load.common import decode_bytes

    textdata, _ = decode_bytes(path.read_bytes(), path=str(path))
    try:
        doc = json.loads(textdata)
    except json.JSONDecodeError as e:
        raise LoadError(f"{path.name} is not valid JSON: {e}", field="file") from None
    feats = doc.get("features") if doc.get("type") == "FeatureCollection" else [doc]
    return list(enumerate(feats or [], start=1))


def _from_geojson(n: int, f: dict[str, Any], stem: str) -> dict[str, Any] | Reject:
    geom = f.get("geometry") or {}
    props = dict(f.get("properties") or {})
    if geom.get("type") != "Point":
        return Reject(n, f"geometry is {geom.get('type')!r}, not a Point", "geometry", "")
    try:
        lon, lat = (float(c) for c in geom["coordinates"][:2])
    except (TypeError, ValueError, KeyError):
        return Reject(n, "unreadable coordinates", "geometry", str(geom.get("coordinates")))
    tags = props.get("all_tags")
    if isinstance(tags, str):
        try:
            tags = json.loads(tags)
        except json.JSONDecodeError:
            tags = None
    if isinstance(tags, dict) and tags.get("man_made") == "surveillance" and props.get("osm_id"):
        return _from_osm_tags(
            n, str(props["osm_id"]), lat, lon, {k: str(v) for k, v in tags.items()}
        )
    if (why := check_wgs84(lat, lon)) is not None:
        return Reject(n, why, "geometry", f"{lat},{lon}")
    ext = (
        props.get("external_id")
        or props.get("id")
        or f.get("id")
        or _row_id({"geometry": json.dumps(geom), **{k: str(v) for k, v in props.items()}})
    )
    purpose = props.get("purpose") or "other"
    if purpose not in PURPOSES:
        purpose = KR_PURPOSE.get(str(purpose), "other")
    heading = (
        parse_float(str(props.get("heading_deg")))
        if props.get("heading_deg") is not None
        else osm_direction(props.get("camera:direction"))
    )
    return _camera_row(
        source=str(props.get("source") or f"geojson:{stem}"),
        external_id=str(ext),
        name=props.get("name"),
        purpose=purpose,
        agency=props.get("agency") or props.get("operator"),
        address=props.get("address"),
        geom=_point_wkt(lon, lat),
        heading_deg=heading,
        fov_deg=parse_float(str(props["fov_deg"])) if props.get("fov_deg") is not None else None,
        range_m=parse_float(str(props["range_m"])) if props.get("range_m") is not None else None,
        camera_type=props.get("camera_type"),
        ptz=bool(props.get("ptz", False)),
        stream_url=props.get("stream_url"),
        raw=props,
    )
