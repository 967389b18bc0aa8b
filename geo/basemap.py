"""The console's base layer: roads and buildings from PostGIS as GeoJSON, so a map reads as a
city without a tile server; and the stored camera views (:mod:`geo.views`) in a box.

Both answer one bounding box at a time and are bounded: a box wider than :data:`MAX_SPAN_DEG`
is refused (the console asks only when zoomed in), and at most ``limit`` features come back
(``truncated`` says when more were there).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.bbox import BBox
from geo.errors import InvalidInput

#: Widest box (degrees of longitude or latitude) the base layer answers: about 5-10 km.
MAX_SPAN_DEG = 0.08
#: Widest box the camera views answer (cones are drawn close in only).
MAX_VIEWS_SPAN_DEG = 0.08
#: Most features of one answer.
MAX_FEATURES = 20_000


def _check_span(bbox: BBox, max_span_deg: float) -> None:
    if bbox.max_lon - bbox.min_lon > max_span_deg or bbox.max_lat - bbox.min_lat > max_span_deg:
        raise InvalidInput(
            f"bbox may span at most {max_span_deg} degrees each way; zoom in", field="bbox"
        )


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_FEATURES:
        raise InvalidInput(f"limit must be within 1..{MAX_FEATURES}, got {limit}", field="limit")


def basemap_features(session: Session, *, bbox: BBox, limit: int = MAX_FEATURES) -> dict[str, Any]:
    """Road edges (``layer='road'``, with ``highway`` and ``name``) and building footprints
    (``layer='building'``) intersecting ``bbox`` as a GeoJSON FeatureCollection.

    Coordinates are rounded to 6 decimals (about 0.1 m); geometries stay EPSG:4326.
    """
    _check_span(bbox, MAX_SPAN_DEG)
    _check_limit(limit)
    env = {
        "a": bbox.min_lon,
        "b": bbox.min_lat,
        "c": bbox.max_lon,
        "d": bbox.max_lat,
        "n": limit + 1,
    }
    rows = session.execute(
        text(
            """
            (select 'road' as layer, e.highway as kind, e.name, st_asgeojson(e.geom, 6) as g
             from road_edges e
             where e.geom && st_makeenvelope(:a, :b, :c, :d, 4326)
             limit :n)
            union all
            (select 'building', b.building, b.name, st_asgeojson(b.geom, 6)
             from buildings b
             where b.geom && st_makeenvelope(:a, :b, :c, :d, 4326)
             limit :n)
            """
        ),
        env,
    ).all()
    truncated = len(rows) > limit
    feats = [
        {
            "type": "Feature",
            "geometry": orjson.loads(g),
            "properties": {"layer": layer, "kind": kind, "name": name},
        }
        for layer, kind, name, g in rows[:limit]
    ]
    return {"type": "FeatureCollection", "features": feats, "truncated": truncated}


def camera_views_in(session: Session, *, bbox: BBox, limit: int = 5000) -> dict[str, Any]:
    """The stored view polygons (``camera_views``, the one view model) of cameras in ``bbox``,
    with the camera's purpose and whether its direction is known, as a FeatureCollection."""
    _check_span(bbox, MAX_VIEWS_SPAN_DEG)
    _check_limit(limit)
    rows = (
        session.execute(
            text(
                """
            select v.camera_id, c.purpose, v.heading_deg, v.fov_deg, v.range_m,
                   v.range_is_default, v.direction_known, v.clipped_by_buildings,
                   st_asgeojson(v.geom, 6) as g
            from camera_views v join cameras c on c.id = v.camera_id
            where c.geom && st_makeenvelope(:a, :b, :c, :d, 4326)
            order by v.camera_id
            limit :n
            """
            ),
            {
                "a": bbox.min_lon,
                "b": bbox.min_lat,
                "c": bbox.max_lon,
                "d": bbox.max_lat,
                "n": limit + 1,
            },
        )
        .mappings()
        .all()
    )
    feats = []
    for r in rows[:limit]:
        props = {k: v for k, v in dict(r).items() if k != "g"}
        feats.append(
            {
                "type": "Feature",
                "id": r["camera_id"],
                "geometry": orjson.loads(r["g"]),
                "properties": props,
            }
        )
    return {"type": "FeatureCollection", "features": feats, "truncated": len(rows) > limit}


#: Purpose codes of :func:`camera_points` (index = code); anything else is ``other``.
POINT_PURPOSES: tuple[str, ...] = (
    "crime_prevention",
    "child_protection",
    "traffic",
    "disaster",
    "other",
)


def camera_points(session: Session) -> dict[str, Any]:
    """Every camera of the registry as columns (id, lon, lat, purpose code, direction known):
    what a map needs to draw and cluster the whole registry, about 25 bytes a camera instead of
    the ~700 of a full GeoJSON feature. Coordinates rounded to 6 decimals (~0.1 m)."""
    import numpy as np

    rows = session.execute(
        text(
            "select id, st_x(geom), st_y(geom), purpose, heading_deg is not null "
            "from cameras order by id"
        )
    ).all()
    codes = {p: i for i, p in enumerate(POINT_PURPOSES)}
    other = codes["other"]
    n = len(rows)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    lon = np.round(np.fromiter((r[1] for r in rows), dtype=np.float64, count=n), 6)
    lat = np.round(np.fromiter((r[2] for r in rows), dtype=np.float64, count=n), 6)
    purpose = np.fromiter((codes.get(r[3], other) for r in rows), dtype=np.int8, count=n)
    known = np.fromiter((1 if r[4] else 0 for r in rows), dtype=np.int8, count=n)
    return {
        "total": n,
        "purposes": list(POINT_PURPOSES),
        "id": ids,
        "lon": lon,
        "lat": lat,
        "purpose": purpose,
        "direction_known": known,
    }


#: Cluster cell size in screen pixels (256-px tiles): cameras within one cell are one cluster.
CLUSTER_PX = 48
#: From this zoom on every camera is its own point (no grouping).
POINTS_ZOOM = 15
#: Most single points one answer carries at POINTS_ZOOM and beyond.
MAX_POINTS = 20_000


def camera_clusters(session: Session, *, bbox: BBox, zoom: float) -> dict[str, Any]:
    """The registry in ``bbox`` at map ``zoom``, grouped on a grid of about
    :data:`CLUSTER_PX` screen pixels: per cell the count, the mean position, the lowest camera
    id, the most common purpose and whether any has a known direction. From :data:`POINTS_ZOOM`
    on, every camera is its own row (at most :data:`MAX_POINTS`). Columns like
    :func:`camera_points`, plus ``n``. The database aggregates, so a map of a million cameras
    draws a few hundred circles."""
    if not 0 <= zoom <= 24:
        raise InvalidInput(f"zoom must be within 0..24, got {zoom}", field="zoom")
    env = {"a": bbox.min_lon, "b": bbox.min_lat, "c": bbox.max_lon, "d": bbox.max_lat}
    if zoom >= POINTS_ZOOM:
        _check_span(bbox, MAX_SPAN_DEG)
        sql = """
            select 1 as n, st_x(geom) as x, st_y(geom) as y, id, purpose,
                   heading_deg is not null as dk
            from cameras where geom && st_makeenvelope(:a, :b, :c, :d, 4326)
            order by id limit :lim"""
        params: dict[str, Any] = {**env, "lim": MAX_POINTS + 1}
    else:
        sql = """
            select count(*) as n, avg(st_x(geom)) as x, avg(st_y(geom)) as y, min(id) as id,
                   mode() within group (order by purpose) as purpose,
                   bool_or(heading_deg is not null) as dk
            from cameras where geom && st_makeenvelope(:a, :b, :c, :d, 4326)
            group by floor(st_x(geom) / :cell), floor(st_y(geom) / :cell)"""
        params = {**env, "cell": 360.0 / (2.0**zoom) / 256.0 * CLUSTER_PX}
    rows = session.execute(text(sql), params).all()
    truncated = len(rows) > MAX_POINTS
    rows = rows[:MAX_POINTS]
    codes = {p: i for i, p in enumerate(POINT_PURPOSES)}
    other = codes["other"]
    return {
        "zoom": zoom,
        "total": int(sum(int(r[0]) for r in rows)),
        "truncated": truncated,
        "purposes": list(POINT_PURPOSES),
        "n": [int(r[0]) for r in rows],
        "id": [int(r[3]) for r in rows],
        "lon": [round(float(r[1]), 6) for r in rows],
        "lat": [round(float(r[2]), 6) for r in rows],
        "purpose": [codes.get(r[4], other) for r in rows],
        "direction_known": [1 if r[5] else 0 for r in rows],
    }
