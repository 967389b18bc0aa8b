"""Road networks from line files: GeoJSON, GeoPackage or Shapefile, with or without osmnx columns.

Two shapes of input are taken, told apart by their columns:

* **osmnx edges** (``u``, ``v``, ``key``, ``highway``, ``name``, ``lanes`` and optionally ``oneway``,
  ``maxspeed``, ``length``, ``osmid``), as ``ox.graph_to_gdfs`` / ``ox.save_graph_geopackage`` write
  them. Node ids are the OSM ids in ``u`` / ``v``. osmnx writes a two-way street as two twin edges
  (u->v and v->u with the reversed geometry); twins are folded into one two-way row, exactly as
  :func:`geo.load.osm.graph_rows` does for OSM files.
* **plain lines** (no ``u`` / ``v``): lines that meet at a shared end point (same coordinates to
  1e-7 degree, about 1 cm) share a node. Such node ids are negative (a hash of the coordinates), so
  they never collide with OSM node ids and are the same on every re-load.

Whatever the input says, lengths are measured (geodesic metres on WGS84); a ``length`` column is kept
in ``raw`` only. Speeds come from ``maxspeed`` where readable, else from the per-class defaults the
routing engine uses (:data:`geo.load.osm.DEFAULT_SPEED_KPH`). Where ``oneway`` is missing or
unreadable the edge is two-way, and the load report says how many edges that concerns.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from pyproj import Geod
from shapely import LineString, MultiLineString, MultiPoint, to_wkt
from sqlalchemy.orm import Session
from tqdm import tqdm

from geo.errors import InvalidInput, LoadError
from geo.load.common import LoadReport, Reject, sha256_file, upsert
from geo.load.osm_files import ROAD_FORMATS
from geo.load.osm_roads import finish_roads_load, prune_road_area
from geo.load.osm_tags import (
    DEFAULT_SPEED_KPH,
    DRIVABLE_HIGHWAYS,
    NO_ACCESS,
    NON_DRIVABLE_SPEED_KPH,
    WKT_DECIMALS,
    _json_safe,
    parse_maxspeed,
)

LINE_FORMATS = ("geojson", "gpkg", "shp")
GEOD = Geod(ellps="WGS84")
_CLASS_RANK = {h: i for i, h in enumerate(DEFAULT_SPEED_KPH)}
ONEWAY_YES = frozenset({"yes", "true", "1", "t", "y"})
ONEWAY_NO = frozenset({"no", "false", "0", "f", "n"})
ONEWAY_REVERSE = frozenset({"-1", "reverse"})


def detect_line_format(path: Path) -> str:
    """``geojson`` | ``gpkg`` | ``shp`` from the file name."""
    name = path.name.lower()
    if name.endswith((".geojson", ".json")):
        return "geojson"
    if name.endswith(".gpkg"):
        return "gpkg"
    if name.endswith((".shp", ".shp.zip")):
        return "shp"
    raise LoadError(
        f"cannot tell the format of {path.name}: expected .geojson, .gpkg or .shp", field="format"
    )


def read_lines(path: Path, *, layer: str | None = None, crs: str | None = None) -> Any:
    """GeoDataFrame of a line file in EPSG:4326 (CRS from the file; ``crs`` when it has none)."""
    import geopandas as gpd

    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="path")
    try:
        gdf = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as e:  # unreadable file: nothing in it is usable
        raise LoadError(f"cannot read {path.name}: {e}", field="file") from e
    return to_wgs84(gdf, crs=crs, name=path.name)


def to_wgs84(gdf: Any, *, crs: str | None, name: str) -> Any:
    """Reproject to EPSG:4326; a file without a CRS needs ``crs`` unless it is plainly lon/lat."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if crs:
        try:
            src = CRS.from_user_input(crs)
        except CRSError as e:
            raise InvalidInput(f"unknown CRS {crs!r}: {e}", field="crs") from None
        gdf = gdf.set_crs(src, allow_override=True)
    if gdf.crs is None:
        b = gdf.total_bounds if len(gdf) else (0, 0, 0, 0)
        if not all(math.isfinite(v) for v in b) or not (
            -180 <= b[0] <= 180 and -180 <= b[2] <= 180 and -90 <= b[1] <= 90 and -90 <= b[3] <= 90
        ):
            raise LoadError(
                f"{name} has no CRS (.prj) and its coordinates are not lon/lat; pass --crs",
                field="crs",
            )
        gdf = gdf.set_crs(4326)
    if gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    return gdf


def _isnull(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN / pandas NA
    except (TypeError, ValueError):
        return False


def _value(v: Any) -> Any:
    """A cell as plain Python: lists written as text by osmnx (``"['a', 'b']"``) become lists."""
    if _isnull(v):
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, str):
        s = v.strip()
        if s.startswith("[") and s.endswith("]"):
            try:
                parsed = ast.literal_eval(s)
            except (ValueError, SyntaxError):
                return s
            return list(parsed) if isinstance(parsed, list | tuple) else s
        return s
    return v


def highway_classes(value: Any) -> list[str]:
    """Classes of a ``highway`` cell, the most important first (``"secondary, tertiary"``, lists)."""
    v = _value(value)
    if v is None:
        return []
    items = v if isinstance(v, list) else str(v).split(",")
    out = sorted({str(x).strip() for x in items if str(x).strip()})
    return sorted(out, key=lambda h: (_CLASS_RANK.get(h, 99), h))


def parse_oneway(value: Any) -> bool | str | None:
    """``True`` (one-way), ``False`` (two-way), ``"reverse"`` (one-way against the geometry) or
    ``None`` when the value says nothing usable (then the edge is two-way)."""
    v = _value(value)
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, list):  # osmnx merged ways: one-way only if every part is
        parts = [parse_oneway(x) for x in v]
        return True if parts and all(p is True for p in parts) else None
    s = str(v).strip().lower()
    if s in ONEWAY_YES:
        return True
    if s in ONEWAY_NO:
        return False
    if s in ONEWAY_REVERSE:
        return "reverse"
    return None


def _int_id(v: Any) -> int | None:
    v = _value(v)
    if isinstance(v, list):
        v = v[0] if v else None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return int(f) if math.isfinite(f) and f == int(f) else None


def coord_node_id(x: float, y: float) -> int:
    """Stable negative node id of a coordinate (1e-7 degree grid) for files without node ids."""
    h = hashlib.sha1(f"{x:.7f},{y:.7f}".encode()).digest()
    return -(int.from_bytes(h[:7], "big") + 1)


def _canon(coords: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    r = tuple((round(x, 7), round(y, 7)) for x, y in coords)
    return min(r, r[::-1])


def line_rows(
    gdf: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Reject], dict[str, int]]:
    """Rows for ``road_nodes`` and ``road_edges`` from a line GeoDataFrame (EPSG:4326).

    Returns (nodes, edges, rejects, counts); reject rows are 1-based feature numbers of the file.
    ``counts`` says how the edges came about (twins folded, one-way unknown, measured lengths...).
    """
    cols = [c for c in gdf.columns if c != "geometry"]
    osmnx_style = "u" in cols and "v" in cols
    has_oneway = "oneway" in cols
    rejects: list[Reject] = []
    node_xy: dict[int, tuple[float, float]] = {}
    counts: defaultdict[str, int] = defaultdict(int)
    parsed: list[dict[str, Any]] = []
    records = gdf[cols].to_dict("records") if cols else [{} for _ in range(len(gdf))]
    for i, (props, geom) in enumerate(zip(records, gdf.geometry, strict=True), start=1):
        if geom is None or geom.is_empty:
            rejects.append(Reject(i, "feature without geometry", "geometry", ""))
            continue
        if isinstance(geom, MultiLineString):
            parts = list(geom.geoms)
            if osmnx_style and len(parts) > 1:
                rejects.append(
                    Reject(i, "MultiLineString with u/v ids: which part is the edge?", "geometry")
                )
                continue
            counts["multipart_split"] += len(parts) - 1 if len(parts) > 1 else 0
        elif isinstance(geom, LineString):
            parts = [geom]
        else:
            rejects.append(
                Reject(i, f"geometry is a {geom.geom_type}, not a line", "geometry", geom.geom_type)
            )
            continue
        for part_no, part in enumerate(parts):
            line = [(float(x), float(y)) for x, y, *_ in part.coords]
            ident = f"feature {i}" + (f" part {part_no + 1}" if len(parts) > 1 else "")
            if len({(round(x, 7), round(y, 7)) for x, y in line}) < 2:
                rejects.append(
                    Reject(
                        i, "line without a usable geometry (fewer than 2 points)", "geometry", ident
                    )
                )
                continue
            if not all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in line):
                rejects.append(Reject(i, "coordinates out of lon/lat range", "geometry", ident))
                continue
            if osmnx_style:
                u, v = _int_id(props.get("u")), _int_id(props.get("v"))
                key = _int_id(props.get("key")) if "key" in props else 0
                if u is None or v is None or key is None:
                    rejects.append(
                        Reject(
                            i,
                            "u, v and key must be whole numbers (node ids)",
                            "u/v/key",
                            f"{props.get('u')},{props.get('v')},{props.get('key')}",
                        )
                    )
                    continue
            else:
                u = coord_node_id(*line[0])
                v = coord_node_id(*line[-1])
                key = None
            bad = None
            for nid, xy in ((u, line[0]), (v, line[-1])):
                known = node_xy.get(nid)
                if known is None:
                    node_xy[nid] = xy
                elif abs(known[0] - xy[0]) > 1e-5 or abs(known[1] - xy[1]) > 1e-5:
                    bad = Reject(
                        i,
                        f"node {nid} is at two places (about 1 m apart or more)",
                        "u/v",
                        f"{known[0]:.7f},{known[1]:.7f} vs {xy[0]:.7f},{xy[1]:.7f}",
                    )
            if bad is not None:
                rejects.append(bad)
                continue
            length_m = float(GEOD.line_length([p[0] for p in line], [p[1] for p in line]))
            if not math.isfinite(length_m) or length_m <= 0:
                rejects.append(Reject(i, "line of zero length", "geometry", ident))
                continue
            parsed.append(
                {"n": i, "u": u, "v": v, "key": key, "line": line, "len": length_m, "props": props}
            )

    # fold osmnx twins (u->v and v->u, same key, reversed geometry) into one two-way row
    by_key = {(p["u"], p["v"], p["key"]): p for p in parsed if osmnx_style}
    folded: set[int] = set()
    edges_in: list[tuple[dict[str, Any], bool | None]] = []
    for p in parsed:
        if id(p) in folded:
            continue
        twin = by_key.get((p["v"], p["u"], p["key"])) if osmnx_style and p["u"] != p["v"] else None
        if twin is not None and twin["line"] == p["line"][::-1] and id(twin) not in folded:
            folded.add(id(twin))
            folded.add(id(p))
            keep = p if (p["u"], p["key"]) <= (twin["u"], twin["key"]) else twin
            counts["twins_folded"] += 1
            edges_in.append((keep, False))
            continue
        ow = parse_oneway(p["props"].get("oneway")) if has_oneway else None
        if ow == "reverse":
            p = {**p, "u": p["v"], "v": p["u"], "line": p["line"][::-1]}
            ow = True
        edges_in.append((p, ow))  # type: ignore[arg-type]

    # plain lines: parallel lines between the same two nodes get keys in a stable order
    if not osmnx_style:
        groups: dict[tuple[int, int], list[tuple[dict[str, Any], bool | None]]] = defaultdict(list)
        for item in edges_in:
            groups[(item[0]["u"], item[0]["v"])].append(item)
        seen_geom: dict[tuple[Any, ...], int] = {}  # -> index in edges_in
        edges_in = []
        for (u, v), items in groups.items():
            items.sort(key=lambda it: _canon(it[0]["line"]))
            for k, (p, ow) in enumerate(items):
                canon = (min(u, v), max(u, v), _canon(p["line"]))
                if canon in seen_geom:
                    j = seen_geom[canon]
                    first, first_ow = edges_in[j]
                    if p["line"] == first["line"][::-1] and ow is None and first_ow is None:
                        # the same street drawn once each way: one two-way row
                        edges_in[j] = (first, False)
                        counts["twins_folded"] += 1
                        continue
                    rejects.append(
                        Reject(
                            p["n"],
                            f"the same line as feature {first['n']}",
                            "geometry",
                            "duplicate",
                        )
                    )
                    continue
                seen_geom[canon] = len(edges_in)
                edges_in.append(({**p, "key": k}, ow))

    edges: list[dict[str, Any]] = []
    for p, ow in edges_in:
        props = p["props"]
        classes = highway_classes(props.get("highway"))
        highway = classes[0] if classes else None
        access = {str(a) for a in (_as_list(_value(props.get("access"))))}
        drivable = bool(set(classes) & DRIVABLE_HIGHWAYS) and not (access and access <= NO_ACCESS)
        speed = parse_maxspeed(_value(props.get("maxspeed")))
        if speed is None:
            counts["speed_default"] += 1
            speed = DEFAULT_SPEED_KPH.get(highway or "", NON_DRIVABLE_SPEED_KPH)
        two_way = ow is not True
        if ow is None:
            counts["oneway_unknown"] += 1
        name = _value(props.get("name"))
        if isinstance(name, list):
            name = name[0] if name else None
        raw = _json_safe({k: _value(v) for k, v in props.items() if not _isnull(v)})
        length_m = p["len"]
        edges.append(
            {
                "source": p["u"],
                "target": p["v"],
                "osm_key": p["key"],
                "osm_way_id": _int_id(props.get("osmid")) if "osmid" in props else None,
                "name": None if name is None else str(name),
                "highway": None if highway is None else highway[:64],
                "oneway": not two_way,
                "drivable": drivable,
                "length_m": round(length_m, 3),
                "speed_kph": round(float(speed), 3),
                "travel_time_s": round(length_m / (speed / 3.6), 3),
                "cost": round(length_m, 3),
                "reverse_cost": round(length_m, 3) if two_way else -1.0,
                "geom": to_wkt(LineString(p["line"]), rounding_precision=WKT_DECIMALS),
                "raw": json.loads(json.dumps(raw, default=str)),
            }
        )
    edges.sort(key=lambda r: (r["source"], r["target"], r["osm_key"]))
    degree: dict[int, int] = defaultdict(int)
    for e in edges:
        degree[e["source"]] += 1
        degree[e["target"]] += 1
    nodes = [
        {
            "id": nid,
            "osm_id": nid,
            "street_count": degree[nid],
            "geom": f"POINT({node_xy[nid][0]:.7f} {node_xy[nid][1]:.7f})",
        }
        for nid in sorted(degree)
    ]
    counts["osmnx_style"] = int(osmnx_style)
    counts["has_oneway"] = int(has_oneway)
    return nodes, edges, rejects, dict(counts)


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return list(v) if isinstance(v, list | tuple) else [v]


def load_road_lines(
    session: Session,
    *,
    path: Path | str,
    fmt: str | None = None,
    layer: str | None = None,
    crs: str | None = None,
    progress: bool = True,
) -> LoadReport:
    """Load road edges from a GeoJSON / GeoPackage / Shapefile into road_nodes / road_edges.

    Runs in the caller's transaction and records a ``data_loads`` row (kind ``roads``; its id is
    the version the in-memory routing graph watches). Idempotent: nodes by id, edges by
    (source, target, osm_key); edges and nodes inside the file's area that the file no longer has
    are removed. Every unusable feature is in the reject report with its feature number.
    """
    path = Path(path)
    fmt = (fmt or detect_line_format(path)).lower()
    if fmt not in LINE_FORMATS:
        raise InvalidInput(
            f"format must be one of {', '.join(LINE_FORMATS)}, not {fmt!r}", field="format"
        )
    bar = tqdm(total=4, desc=f"roads {path.name}", disable=not progress, unit="step")
    gdf = read_lines(path, layer=layer, crs=crs)
    bar.update(1)
    report = LoadReport(kind="roads", fmt=fmt, path=str(path), sha256=sha256_file(path))
    nodes, edges, rejects, counts = line_rows(gdf)
    report.rows_read = len(gdf)
    report.rejects = rejects
    if not edges:
        raise LoadError(f"{path.name} has no usable road lines", field="file")
    bar.update(1)
    n_ins, n_upd = upsert(session, table="road_nodes", rows=nodes, key=("id",))
    report.inserted, report.updated = upsert(
        session, table="road_edges", rows=edges, key=("source", "target", "osm_key"), chunk=500
    )
    report.unchanged = len(edges) - report.inserted - report.updated
    bar.update(1)
    hull = MultiPoint([_point_xy(n["geom"]) for n in nodes]).convex_hull
    removed_edges, removed_nodes = prune_road_area(
        session,
        hull_wkt=to_wkt(hull.buffer(1e-7), rounding_precision=WKT_DECIMALS),
        nodes=nodes,
        edges=edges,
    )
    bar.update(1)
    bar.close()
    n_two = sum(1 for e in edges if not e["oneway"])
    how = (
        "osmnx edge columns (u, v, key): node ids are OSM ids"
        if counts.get("osmnx_style")
        else "plain lines: lines meeting at a shared end point (1e-7 degree) share a node"
    )
    report.warnings.append(
        f"{how}; {len(nodes)} nodes ({n_ins} inserted, {n_upd} updated), {len(edges)} edge rows "
        f"({n_two} two-way, {len(edges) - n_two} one-way)"
    )
    if counts.get("twins_folded"):
        report.warnings.append(
            f"{counts['twins_folded']} osmnx twin pairs (u->v and v->u, reversed geometry) folded "
            "into one two-way row each"
        )
    report.warnings.append("lengths measured on the WGS84 ellipsoid (geodesic metres)")
    if counts.get("oneway_unknown"):
        report.warnings.append(
            f"one-way unknown for {counts['oneway_unknown']} edges "
            + ("(no oneway column)" if not counts.get("has_oneway") else "(empty or unreadable)")
            + ": loaded as two-way"
        )
    if counts.get("speed_default"):
        report.warnings.append(
            f"{counts['speed_default']} edges without a readable maxspeed use the per-class "
            "default speed (geo.load.osm.DEFAULT_SPEED_KPH)"
        )
    if counts.get("multipart_split"):
        report.warnings.append(
            f"multi-part lines split into parts ({counts['multipart_split']} extra edges)"
        )
    return finish_roads_load(
        session, report, removed_edges=removed_edges, removed_nodes=removed_nodes
    )


def _point_xy(wkt: str) -> tuple[float, float]:
    x, y = wkt[wkt.index("(") + 1 : wkt.index(")")].split()
    return float(x), float(y)


def road_format(path: Path) -> str:
    """The road file format of a path: an OSM one (osm, pbf, graphml) or a line file one."""
    name = path.name.lower()
    if name.endswith((".pbf", ".graphml", ".osm", ".osm.xml")):
        from geo.load.osm_files import detect_road_format

        return detect_road_format(path)
    return detect_line_format(path)


def load_roads_any(
    session: Session,
    *,
    path: Path | str,
    fmt: str | None = None,
    progress: bool = True,
    **kw: Any,
) -> LoadReport:
    """Load any road file: OSM XML / PBF / graphml via osmnx, GeoJSON / GPKG / Shapefile lines."""
    path = Path(path)
    fmt = (fmt or road_format(path)).lower()
    if fmt in ROAD_FORMATS:
        from geo.load.osm_roads import load_roads

        return load_roads(session, path=path, fmt=fmt, progress=progress)
    return load_road_lines(session, path=path, fmt=fmt, progress=progress, **kw)


__all__ = [
    "LINE_FORMATS",
    "coord_node_id",
    "highway_classes",
    "line_rows",
    "load_road_lines",
    "load_roads_any",
    "parse_oneway",
    "read_lines",
    "road_format",
    "to_wgs84",
]
