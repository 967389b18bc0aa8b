"""Vector tiles (Mapbox Vector Tile, ``ST_AsMVT``) of the collections GIS clients read.

One tile is one layer named after its collection (:mod:`geo.features.collections`: which role
reads which collection, and which properties leave the service; stream URLs never do). Tiles are
XYZ tiles of the Web Mercator quad (EPSG:3857, ``z/x/y`` with ``y`` from the north), extent
:data:`EXTENT`. Geometries are stored in EPSG:4326; rows are chosen by the GiST index
(``geom && ST_Transform(ST_TileEnvelope(z, x, y), 4326)``, with a margin for lines and
polygons), which ``ST_AsMVTGeom`` clips after ``ST_Transform`` to 3857. Points are placed on the
tile grid by the Web Mercator formula itself (no per-row transform).

Point collections (cameras, incidents) are **clustered below** their points zoom so that a
tile stays small whatever the registry's size: the tile is cut into :data:`GRID` x :data:`GRID`
cells (cells never straddle tiles) and each non-empty cell is one point at the mean position of
its members, with ``count``, the most common class (``purpose``/``kind``), one ``n_<class>``
count per class, ``direction_known`` for cameras, and ``id`` when the cell holds exactly one
(so a lone camera stays clickable). Every point belongs to exactly one tile and one cell
(half-open on the Web Mercator grid), so the counts of a tile add up to the rows in it. A camera
tile at or past the points zoom that still holds more than :data:`MAX_TILE_POINTS` cameras (a
city centre of a national registry at zoom 14) stays clustered; the next zoom splits it.
Single points carry only what a map draws (:attr:`TileSpec.point_fields`): a camera its
``id``, ``purpose`` and ``direction_known``; the rest comes from ``/api/cameras/{id}`` (or the
features endpoint) when it is clicked.

A camera tile holding more than :data:`DENSE_CAMERAS` cameras is clustered from the in-memory
index (:mod:`geo.tile_index`: O(cells) per tile, rebuilt after each load, committed rows)
instead of SQL; sparser tiles are clustered by SQL and so show the caller's own transaction
exactly. Both are encoded by ``ST_AsMVT`` and cut the same cells (tests/test_tiles.py).

Lines and polygons (roads, buildings, camera views) are served from their ``minzoom`` on
(an empty tile below it), clipped with a :data:`BUFFER` margin. Computed collections
(``coverage_gaps``) have no tiles: read their items. An empty tile is ``b""``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import NotFound
from geo.features.collections import Collection, Property, get_collection
from geo.models.access import User
from geo.models.core import CAMERA_PURPOSES, INCIDENT_KINDS
from geo.tile_index import EXTENT, GRID, CameraIndex, camera_index

__all__ = ["EXTENT", "GRID", "CameraIndex", "camera_index", "check_tile", "tile", "tilejson"]

#: Clip buffer of lines and polygons (tile units; the extent is :data:`EXTENT`).
BUFFER = 64
#: Deepest zoom answered (beyond the tile matrix: 404).
MAX_ZOOM = 22
#: Most features of one line/polygon tile (a city's roads at zoom 12 are a few thousand).
MAX_FEATURES = 50_000
#: Above this many cameras in one tile, clusters come from the in-memory index.
DENSE_CAMERAS = 2_000
#: A camera tile at or beyond the points zoom holding more cameras than this is still clustered
#: (a city centre of a national registry at zoom 14: thousands of points, a megabyte of tile);
#: MapLibre's next zoom (or overzoom) splits it into single cameras.
MAX_TILE_POINTS = 2_000


@dataclass(frozen=True)
class TileSpec:
    """How a collection is tiled: from which zoom it has features (``minzoom``), the zoom from
    which points are single features (``points_zoom``; ``None``: never clustered), the class
    property clusters count by and its values, and the ``maxzoom`` a client overzooms from.
    ``point_fields``: the only properties single points carry (besides ``id``; ``None``: all
    the role may see), so a tile holds what a map draws and no more: the details come from the
    feature's own endpoint on click."""

    minzoom: int
    maxzoom: int
    points_zoom: int | None = None
    cluster_by: str | None = None
    classes: tuple[str, ...] = ()
    point_fields: tuple[str, ...] | None = None


#: The tiled collections (registry ids); others (computed ones) have no tiles.
TILED: dict[str, TileSpec] = {
    # single cameras carry what the console draws (colour by purpose, ring when the direction
    # is unknown) and the id it asks /api/cameras/{id} with: 5x fewer bytes at zoom 16
    "cameras": TileSpec(
        0,
        16,
        points_zoom=14,
        cluster_by="purpose",
        classes=CAMERA_PURPOSES,
        point_fields=("purpose", "direction_known"),
    ),
    "incidents": TileSpec(0, 16, points_zoom=12, cluster_by="kind", classes=INCIDENT_KINDS),
    "camera_views": TileSpec(14, 16),
    "roads": TileSpec(12, 16),
    "buildings": TileSpec(14, 16),
}


def check_tile(*, z: int, x: int, y: int) -> None:
    """Refuse a tile outside the Web Mercator quad: ``z`` in 0..:data:`MAX_ZOOM`, ``x`` and
    ``y`` in 0..2^z-1. :class:`NotFound` naming the parameter (no such tile)."""
    if not 0 <= z <= MAX_ZOOM:
        raise NotFound(f"z must be within 0..{MAX_ZOOM}, got {z}", field="z")
    n = 1 << z
    if not 0 <= x < n:
        raise NotFound(f"x must be within 0..{n - 1} at zoom {z}, got {x}", field="x")
    if not 0 <= y < n:
        raise NotFound(f"y must be within 0..{n - 1} at zoom {z}, got {y}", field="y")


def tiled_collection(collection: str, role: str | None) -> tuple[Collection, TileSpec]:
    """The collection ``collection`` and how it is tiled, if ``role`` may read it;
    :class:`NotFound` (field ``collectionId``) for unknown, forbidden and untiled ones."""
    c = get_collection(collection, role)
    spec = TILED.get(c.id)
    if spec is None:
        raise NotFound(
            f"collection {c.id!r} has no vector tiles (computed per request): read its items",
            field="collectionId",
        )
    return c, spec


def tile(session: Session, *, collection: str, z: int, x: int, y: int, role: str | None) -> bytes:
    """The MVT tile ``z/x/y`` of ``collection`` as ``role`` may see it (b"" when empty).

    Raises :class:`NotFound` for an unknown, forbidden or untiled collection and for a tile
    outside the quad. Access checks and audit belong to the caller (the route asks the gate).
    """
    check_tile(z=z, x=x, y=y)
    c, spec = tiled_collection(collection, role)
    if z < spec.minzoom:
        return b""
    if spec.points_zoom is None:
        return _shape_tile(session, c, role, z=z, x=x, y=y)
    idx = camera_index(session) if c.id == "cameras" else None
    n = idx.count(z, x, y) if idx is not None else None
    if z >= spec.points_zoom and (n is None or n <= MAX_TILE_POINTS):
        return _point_tile(session, c, spec, role, z=z, x=x, y=y)
    if idx is not None and n is not None and n > DENSE_CAMERAS:
        return _encode_cells(session, c.id, idx.cells(z, x, y), spec)
    return _cluster_tile(session, c, spec, z=z, x=x, y=y)


# ---- SQL tiles ------------------------------------------------------------------------------


def _uv_sql(geom: str) -> tuple[str, str]:
    """SQL of a point's normalised Web Mercator position (u east, v south, 0..1 over the
    world) from its longitude and latitude: the one grid tiles and cluster cells are cut from
    (the same formula as :func:`geo.tile_index._uv`). Plain arithmetic, not ``ST_Transform``: PostGIS costs a
    transform so high that the planner chose a sequential scan and JIT for a few thousand rows."""
    lat = f"radians(st_y({geom}))"
    return (
        f"((st_x({geom}) + 180.0) / 360.0)",
        f"((1.0 - ln(tan({lat}) + 1.0 / cos({lat})) / pi()) / 2.0)",
    )


def _prop_sql(expr: str, type_: str) -> str:
    """A property as a value MVT can carry (times and dates as ISO 8601 text)."""
    if type_ in ("datetime", "date"):
        return f"(to_json({expr}) #>> '{{}}')"
    return expr


#: Computed point fields (``TileSpec.point_fields`` names them): SQL over the source.
_COMPUTED: dict[str, tuple[str, str]] = {
    "direction_known": ("t.heading_deg is not null", "boolean"),
}


def _tile_properties(c: Collection, spec: TileSpec | None, role: str | None) -> list[Property]:
    """The properties single features of ``c`` carry for ``role`` (``spec.point_fields`` when
    set: never one the role may not see)."""
    props = list(c.properties_for(role))
    if spec is None or spec.point_fields is None:
        return props
    seen = {p.name: p for p in props}
    out = []
    for name in spec.point_fields:
        if name in seen:
            out.append(seen[name])
        elif name in _COMPUTED:
            out.append(Property(name=name, sql=_COMPUTED[name][0], type=_COMPUTED[name][1]))
    return out


def _props_sql(c: Collection, role: str | None, spec: TileSpec | None = None) -> str:
    chosen = _tile_properties(c, spec, role)
    props = [f'{_prop_sql(p.sql, p.type)} as "{p.name}"' for p in chosen]
    if not any(p.name == "id" for p in chosen):
        props.append(f'{c.id_sql} as "id"')
    if c.id_type == "integer":
        props.append(f"{c.id_sql} as __fid")
    return ", ".join(props)


def _asmvt(c: Collection) -> str:
    fid = ", '__fid'" if c.id_type == "integer" else ""
    return f"st_asmvt(q, :layer, {EXTENT}, 'geom'{fid})"


def _tile_params(c: Collection, z: int, x: int, y: int) -> dict[str, Any]:
    return {"z": z, "x": x, "y": y, "n": float(1 << z), "layer": c.id, "lim": MAX_FEATURES}


def _point_tile(
    session: Session, c: Collection, spec: TileSpec, role: str | None, *, z: int, x: int, y: int
) -> bytes:
    """Single points with ``id`` and the role's properties (only ``spec.point_fields`` when
    set). A point belongs to the one tile its position falls in (half-open), so no point is in
    two tiles."""
    u, v = _uv_sql(c.geometry)
    sql = f"""
        select {_asmvt(c)} from (
          select {_props_sql(c, role, spec)},
                 st_point(floor(({u} * :n - :x) * {EXTENT} + 0.5),
                          floor(({v} * :n - :y) * {EXTENT} + 0.5)) as geom
          from {c.source}
          where {c.geometry} && st_transform(st_tileenvelope(:z, :x, :y), 4326)
            and floor({u} * :n) = :x and floor({v} * :n) = :y
          limit :lim
        ) q"""
    return bytes(session.execute(text(sql), _tile_params(c, z, x, y)).scalar_one() or b"")


def _shape_tile(
    session: Session, c: Collection, role: str | None, *, z: int, x: int, y: int
) -> bytes:
    """Lines and polygons with the role's properties and ``id``, clipped by ``ST_AsMVTGeom``
    with a :data:`BUFFER` margin (rows chosen by the index with the same margin)."""
    # PostGIS's high cost of ST_Transform would have a few hundred rows JIT-compiled (seconds)
    session.execute(text("set local jit = off"))
    sql = f"""
        select {_asmvt(c)} from (
          select {_props_sql(c, role)},
                 st_asmvtgeom(st_transform({c.geometry}, 3857), st_tileenvelope(:z, :x, :y),
                              {EXTENT}, {BUFFER}, true) as geom
          from {c.source}
          where {c.geometry} && st_transform(st_tileenvelope(:z, :x, :y, margin => :m), 4326)
          limit :lim
        ) q where q.geom is not null"""
    params = {**_tile_params(c, z, x, y), "m": BUFFER / EXTENT}
    return bytes(session.execute(text(sql), params).scalar_one() or b"")


def _cluster_tile(
    session: Session, c: Collection, spec: TileSpec, *, z: int, x: int, y: int
) -> bytes:
    """Cells of :data:`GRID` x :data:`GRID` per tile grouped by the database: count, mean
    position, most common class, a count per class, ``id`` of a lone member."""
    u, v = _uv_sql(c.geometry)
    cams = c.id == "cameras"
    per_class = ", ".join(
        f"count(*) filter (where p.cls = '{k}')::int as \"n_{k}\"" for k in spec.classes
    )
    # the most common class, ties to the first by name (as the index does)
    names = sorted(spec.classes)
    n_sorted = ", ".join(f'a."n_{k}"' for k in names)
    main = (
        "(array[" + ", ".join(f"'{k}'" for k in names) + "])"
        f"[array_position(array[{n_sorted}], greatest({n_sorted}))]"
    )
    counts = ", ".join(f'a."n_{k}"' for k in spec.classes)
    sql = f"""
        select st_asmvt(q, :layer, {EXTENT}, 'geom') from (
          select a.count, a.id, {main} as "{spec.cluster_by}", {counts}
                 {", a.direction_known" if cams else ""}, a.geom
          from (
            select count(*)::int as count,
                   case when count(*) = 1 then min(p.id) end as id, {per_class}
                   {", bool_or(p.dk) as direction_known" if cams else ""},
                   st_point(floor(avg(p.px) + 0.5), floor(avg(p.py) + 0.5)) as geom
            from (
              select {c.id_sql} as id, t.{spec.cluster_by} as cls
                     {", t.heading_deg is not null as dk" if cams else ""},
                     ({u} * :n - :x) * {EXTENT} as px, ({v} * :n - :y) * {EXTENT} as py
              from {c.source}
              where {c.geometry} && st_transform(st_tileenvelope(:z, :x, :y), 4326)
            ) p
            where p.px >= 0 and p.px < {EXTENT} and p.py >= 0 and p.py < {EXTENT}
            group by floor(p.px / {EXTENT // GRID}), floor(p.py / {EXTENT // GRID})
          ) a
        ) q"""
    return bytes(session.execute(text(sql), _tile_params(c, z, x, y)).scalar_one() or b"")


def _encode_cells(
    session: Session, layer: str, cells: dict[str, np.ndarray], spec: TileSpec
) -> bytes:
    """``ST_AsMVT`` of cells aggregated in Python (:meth:`CameraIndex.cells`): same layer and
    properties as :func:`_cluster_tile`."""
    if not len(cells["count"]):
        return b""
    cols = ", ".join(f'u."n_{k}"' for k in spec.classes)
    decl = ", ".join(f'"n_{k}"' for k in spec.classes)
    arrays = ", ".join(f"cast(:n_{k} as int[])" for k in spec.classes)
    sql = f"""
        select st_asmvt(q, :layer, {EXTENT}, 'geom') from (
          select u.count, u.id, u.purpose, {cols}, u.direction_known, st_point(u.px, u.py) as geom
          from unnest(cast(:count as int[]), cast(:id as int[]), cast(:purpose as text[]),
                      {arrays}, cast(:dk as bool[]), cast(:px as int[]), cast(:py as int[]))
               as u(count, id, purpose, {decl}, direction_known, px, py)
        ) q"""
    params: dict[str, Any] = {
        "layer": layer,
        "count": cells["count"].tolist(),
        "id": [
            int(i) if n == 1 else None for i, n in zip(cells["id"], cells["count"], strict=True)
        ],
        "purpose": [spec.classes[i] for i in cells["purpose"]],
        "dk": cells["direction_known"].tolist(),
        "px": cells["px"].tolist(),
        "py": cells["py"].tolist(),
    }
    for j, k in enumerate(spec.classes):
        params[f"n_{k}"] = cells["by_class"][j].tolist()
    return bytes(session.execute(text(sql), params).scalar_one() or b"")


# ---- TileJSON --------------------------------------------------------------------------------


def tilejson(*, collection: str, role: str | None, tiles_url: str) -> dict[str, Any]:
    """The TileJSON 3.0.0 document of ``collection`` for ``role``: the tile URL template, zooms,
    and the one vector layer with the fields the role's tiles carry."""
    c, spec = tiled_collection(collection, role)
    fields = {p.name: _FIELD_TYPES.get(p.type, "String") for p in _tile_properties(c, spec, role)}
    fields.setdefault("id", "Number")
    if spec.points_zoom is not None:
        fields["count"] = "Number"
        for k in spec.classes:
            fields[f"n_{k}"] = "Number"
        if c.id == "cameras":
            fields["direction_known"] = "Boolean"
    return {
        "tilejson": "3.0.0",
        "name": c.id,
        "description": c.description
        + (
            f" Below zoom {spec.points_zoom}, points are clustered on a {GRID}x{GRID} grid per "
            "tile: one point per cell with 'count' and per-class counts."
            if spec.points_zoom is not None
            else ""
        ),
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": spec.minzoom,
        "maxzoom": spec.maxzoom,
        "bounds": [-180.0, -85.0511, 180.0, 85.0511],
        "vector_layers": [
            {
                "id": c.id,
                "description": c.title,
                "minzoom": spec.minzoom,
                "maxzoom": spec.maxzoom,
                "fields": fields,
            }
        ],
    }


_FIELD_TYPES = {"integer": "Number", "number": "Number", "boolean": "Boolean"}


def record_tile_read(
    session: Session,
    *,
    user: User,
    client_ip: str | None,
    collection: Collection,
    z: int,
    x: int,
    y: int,
    body: bytes,
) -> None:
    """Audit a tile of a personal-data collection (``view``, in the request's transaction,
    before the tile leaves): collection, tile and its size; nothing for other collections."""
    if not collection.audited:
        return
    from geo.access.audit import audit

    audit(
        session,
        action="view",
        user=user,
        client_ip=client_ip,
        reason=f"GIS client read of {collection.id} (vector tile)",
        detail={
            "access": "vector_tiles",
            "collection": collection.id,
            "tile": f"{z}/{x}/{y}",
            "bytes": len(body),
        },
    )
