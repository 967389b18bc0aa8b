"""Road network and building footprints from OSM files (``.osm`` XML, ``.osm.pbf``) or an osmnx
``.graphml``, via osmnx.

Roads become ``road_nodes`` / ``road_edges`` in the layout pgRouting takes as-is: one row per edge
geometry, ``cost = length_m`` and ``reverse_cost = length_m`` on two-way streets, ``-1`` on one-way
streets (osmnx's u->v / v->u twin edges are folded into one row). Node ids are OSM node ids, so they
are stable across re-loads and shared between overlapping extracts.

OSM files are first passed through pyosmium: the ways of interest (``highway=*`` for roads) and
their nodes are written to a temporary OSM XML, and ways cut at the extract's edge (referencing
nodes that are not in the file) keep their longest run of present nodes, because osmnx refuses
such ways ("Some edges missing nodes"). PBF files take the same path.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from shapely import LineString, MultiPolygon, Point, Polygon, to_wkt
from sqlalchemy import text
from sqlalchemy.orm import Session
from tqdm import tqdm

from geo.errors import InvalidInput, LoadError
from geo.load.common import LoadReport, Reject, record_load, sha256_file, upsert

ROAD_FORMATS = ("osm", "pbf", "graphml")

# Default speeds (km/h) by OSM highway class when ``maxspeed`` is missing or unreadable: urban
# values (the sample areas are city centres), close to osmnx's and OSRM's car profile defaults.
DEFAULT_SPEED_KPH: dict[str, float] = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 80.0,
    "trunk_link": 50.0,
    "primary": 50.0,
    "primary_link": 40.0,
    "secondary": 50.0,
    "secondary_link": 40.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "living_street": 10.0,
    "service": 20.0,
    "road": 30.0,
    "busway": 30.0,
    "track": 15.0,
}
# classes without a car speed (footway, cycleway, steps, ...): a walking pace, only used for
# ``travel_time_s`` of non-drivable edges
NON_DRIVABLE_SPEED_KPH = 5.0

# highway classes a car may use (osmnx's "drive_service" idea); ``access=no`` also excludes an edge
DRIVABLE_HIGHWAYS = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "road",
    }
)
NO_ACCESS = frozenset({"no"})

# Zone-style maxspeed values (``FI:urban``, ``DE:zone30``...) and words
MAXSPEED_WORDS: dict[str, float] = {
    "walk": 7.0,
    "living_street": 10.0,
    "urban": 50.0,
    "rural": 80.0,
    "motorway": 120.0,
    "zone30": 30.0,
    "zone:30": 30.0,
}
MPH = 1.609344
WKT_DECIMALS = 7  # ~1 cm; a fixed precision makes re-loads byte-identical (idempotence)


# --------------------------------------------------------------------------- small parsers


def _first(v: Any) -> Any:
    """First element of an osmnx list attribute (merged ways), else the value itself."""
    if isinstance(v, list | tuple):
        return v[0] if v else None
    return v


def _as_list(v: Any) -> list[Any]:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return []
    if isinstance(v, list | tuple):
        return list(v)
    return [v]


def parse_maxspeed(value: Any) -> float | None:
    """OSM ``maxspeed`` (``"50"``, ``"30 mph"``, ``"FI:urban"``, ``"walk"``, lists) in km/h.

    For a merged edge carrying several values, the lowest one is taken (conservative for a
    vehicle's earliest arrival). ``None`` when nothing usable is found (``"none"``, ``"signals"``).
    """
    speeds: list[float] = []
    for raw in _as_list(value):
        for part in re.split(r"[;|]", str(raw)):
            p = part.strip().lower()
            if not p:
                continue
            m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?", p)
            if m:
                v = float(m.group(1)) * (MPH if m.group(2) == "mph" else 1.0)
                if 0 < v <= 300:
                    speeds.append(v)
                continue
            word = p.split(":", 1)[-1] if ":" in p and not p.startswith("zone") else p
            if word in MAXSPEED_WORDS:
                speeds.append(MAXSPEED_WORDS[word])
            elif m2 := re.search(r"zone:?(\d+)", p):
                speeds.append(float(m2.group(1)))
    return min(speeds) if speeds else None


def parse_height_m(value: Any) -> float | None:
    """OSM ``height`` (``"12"``, ``"12 m"``, ``"12.5m"``, ``"40'"``) in metres, else ``None``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    s = str(value).strip().lower().replace(",", ".")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(m|meters|metres|ft|')?", s)
    if not m:
        return None
    v = float(m.group(1)) * (0.3048 if m.group(2) in ("ft", "'") else 1.0)
    return v if 0 < v < 1000 else None


def parse_levels(value: Any) -> float | None:
    """OSM ``building:levels`` as a number (``"5"``, ``"5.5"``; ``"3;4"`` takes the highest)."""
    vals = []
    for raw in _as_list(value):
        for p in re.split(r"[;,]", str(raw)):
            try:
                f = float(p.strip())
            except ValueError:
                continue
            if math.isfinite(f) and 0 <= f < 300:
                vals.append(f)
    return max(vals) if vals else None


def detect_road_format(path: Path) -> str:
    """``osm`` | ``pbf`` | ``graphml`` from the file name."""
    name = path.name.lower()
    if name.endswith(".pbf"):
        return "pbf"
    if name.endswith(".graphml"):
        return "graphml"
    if name.endswith((".osm", ".xml", ".osm.xml")):
        return "osm"
    raise LoadError(
        f"cannot tell the format of {path.name}: expected .osm, .osm.pbf or .graphml "
        "(or pass --format)",
        field="format",
    )


def _check_fmt(path: Path, fmt: str | None, allowed: Iterable[str]) -> str:
    fmt = (fmt or detect_road_format(path)).lower()
    allowed = tuple(allowed)
    if fmt not in allowed:
        raise InvalidInput(
            f"format must be one of {', '.join(allowed)}, not {fmt!r}", field="format"
        )
    return fmt


# --------------------------------------------------------------------------- OSM -> clean XML


def _longest_run(refs: list[int], present: set[int]) -> list[int]:
    best: list[int] = []
    cur: list[int] = []
    for r in refs:
        if r in present:
            cur.append(r)
            if len(cur) > len(best):
                best = cur
        else:
            cur = []
    return list(best)


def osm_to_clean_xml(src: Path, dst: Path, *, way_key: str | None) -> dict[str, int]:
    """Write the ways tagged ``way_key`` (all ways when ``None``), their nodes and (for all ways)
    the relations of ``src`` (.osm or .pbf) to the OSM XML ``dst`` that osmnx can read.

    Ways cut at the extract's boundary keep their longest run of nodes present in the file; ways
    left with fewer than 2 nodes are skipped. Returns counts (ways kept, trimmed, skipped, nodes).
    """
    import osmium

    present: set[int] = set()
    for n in osmium.FileProcessor(str(src), osmium.osm.NODE):
        present.add(n.id)
    kept_ways: list[tuple[Any, list[int]]] = []
    used: set[int] = set()
    stats = {"ways": 0, "trimmed": 0, "skipped": 0, "nodes": 0}
    for w in osmium.FileProcessor(str(src), osmium.osm.WAY):
        if way_key is not None and way_key not in w.tags:
            continue
        refs = [n.ref for n in w.nodes]  # type: ignore[union-attr]
        run = refs if all(r in present for r in refs) else _longest_run(refs, present)
        if len(run) < 2:
            stats["skipped"] += 1
            continue
        if len(run) != len(refs):
            stats["trimmed"] += 1
        tags = {t.k: t.v for t in w.tags}
        kept_ways.append((osmium.osm.mutable.Way(id=w.id, nodes=run, tags=tags), run))
        used.update(run)
        stats["ways"] += 1
    if dst.exists():
        dst.unlink()
    with osmium.SimpleWriter(str(dst)) as writer:
        for n in osmium.FileProcessor(str(src), osmium.osm.NODE):
            if way_key is None or n.id in used:
                writer.add_node(n)
                stats["nodes"] += 1
        for w, _ in kept_ways:
            writer.add_way(w)
        if way_key is None:
            for r in osmium.FileProcessor(str(src), osmium.osm.RELATION):
                writer.add_relation(r)
    return stats


# --------------------------------------------------------------------------- graph -> rows


def read_road_graph(path: Path, *, fmt: str | None = None) -> Any:
    """The osmnx MultiDiGraph of a road file: ``graph_from_xml(retain_all=True, simplify=True)``
    for OSM XML/PBF (highway ways only), ``load_graphml`` for osmnx graphml."""
    import osmnx as ox

    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="path")
    fmt = _check_fmt(path, fmt, ROAD_FORMATS)
    try:
        if fmt == "graphml":
            return ox.load_graphml(path)
        with tempfile.TemporaryDirectory(prefix="goldentime-osm-") as tmp:
            clean = Path(tmp) / "highways.osm"
            stats = osm_to_clean_xml(path, clean, way_key="highway")
            if stats["ways"] == 0:
                raise LoadError(f"{path.name} has no highway=* ways", field="file")
            return ox.graph_from_xml(clean, retain_all=True, simplify=True)
    except (LoadError, InvalidInput):
        raise
    except Exception as e:  # unreadable XML/PBF/graphml: the whole file is unusable
        raise LoadError(f"cannot read {path.name} as {fmt}: {e}", field="file") from e


def _json_safe(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k == "geometry":
            continue
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            continue
        if isinstance(v, list | tuple):
            v = [x.item() if isinstance(x, np.generic) else x for x in v]
        out[k] = v
    return out


def _canon(coords: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    r = tuple((round(x, 7), round(y, 7)) for x, y in coords)
    rev = r[::-1]
    return min(r, rev)


def graph_rows(G: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Reject], int]:
    """Rows for ``road_nodes`` and ``road_edges`` from an osmnx graph, plus rejects.

    Twin edges (u->v and v->u with the same geometry, osmnx's way of saying "two-way") become one
    row with ``reverse_cost = length_m``; a lone directed edge is one-way (``reverse_cost = -1``).
    Returns (nodes, edges, rejects, number of directed graph edges read).
    """
    import osmnx as ox

    rejects: list[Reject] = []
    street_count = ox.stats.count_streets_per_node(G)
    nodes: list[dict[str, Any]] = []
    coords: dict[int, tuple[float, float]] = {}
    for i, (nid, d) in enumerate(G.nodes(data=True), start=1):
        x, y = d.get("x"), d.get("y")
        try:
            x, y = float(x), float(y)
        except (TypeError, ValueError):
            rejects.append(Reject(i, "node without coordinates", "node", str(nid)))
            continue
        if not (-180 <= x <= 180 and -90 <= y <= 90) or not (math.isfinite(x) and math.isfinite(y)):
            rejects.append(Reject(i, "node coordinates out of range", "node", f"{nid}: {x},{y}"))
            continue
        coords[int(nid)] = (x, y)
        sc = d.get("street_count", street_count.get(nid))
        nodes.append(
            {
                "id": int(nid),
                "osm_id": int(nid),
                "street_count": None if sc is None else int(sc),
                "geom": to_wkt(Point(x, y), rounding_precision=WKT_DECIMALS),
            }
        )

    # group directed edges by their undirected geometry to find osmnx's twins
    groups: dict[tuple[Any, ...], list[tuple[int, int, int, dict[str, Any], list[Any]]]] = (
        defaultdict(list)
    )
    n_read = 0
    for i, (u, v, k, d) in enumerate(G.edges(keys=True, data=True), start=1):
        n_read += 1
        u, v, k = int(u), int(v), int(k)
        ident = f"{u}->{v} key {k}"
        if u not in coords or v not in coords:
            rejects.append(Reject(i, "edge references a rejected node", "edge", ident))
            continue
        geom = d.get("geometry")
        if geom is None:
            line = [coords[u], coords[v]]
        elif isinstance(geom, str):  # graphml loaded without conversion
            from shapely import wkt

            line = list(wkt.loads(geom).coords)
        else:
            line = list(geom.coords)
        line = [(float(x), float(y)) for x, y, *_ in line]
        length = d.get("length")
        try:
            length_m = float(length) if length is not None else float("nan")
        except (TypeError, ValueError):
            length_m = float("nan")
        if len(line) < 2 or len(set(line)) < 2:
            rejects.append(
                Reject(i, "edge without a usable geometry (fewer than 2 points)", "geometry", ident)
            )
            continue
        if not math.isfinite(length_m) or length_m <= 0:
            rejects.append(
                Reject(i, "edge of zero or unknown length", "length", f"{ident}: {length}")
            )
            continue
        groups[(min(u, v), max(u, v), _canon(line))].append((u, v, k, d, line))

    edges: list[dict[str, Any]] = []
    for (_a, _b, canon), members in groups.items():
        # orientation: same direction as the canonical coordinate order, or the opposite one
        fwd = [m for m in members if tuple((round(x, 7), round(y, 7)) for x, y in m[4]) == canon]
        bwd = [m for m in members if m not in fwd]
        fwd.sort(key=lambda m: (m[0], m[2]))
        bwd.sort(key=lambda m: (m[0], m[2]))
        pairs = min(len(fwd), len(bwd))
        chosen: list[tuple[tuple[int, int, int, dict[str, Any], list[Any]], bool]] = []
        for j in range(pairs):
            a, b = fwd[j], bwd[j]
            # keep the twin that runs from the smaller node id (self-loops: the smaller key)
            keep = a if (a[0], a[2]) <= (b[0], b[2]) else b
            chosen.append((keep, True))
        for m in fwd[pairs:] + bwd[pairs:]:
            chosen.append((m, False))
        for (u, v, k, d, line), two_way in chosen:
            edges.append(_edge_row(u, v, k, d, line, two_way=two_way))
    edges.sort(key=lambda r: (r["source"], r["target"], r["osm_key"]))
    return nodes, edges, rejects, n_read


_CLASS_RANK = {h: i for i, h in enumerate(DEFAULT_SPEED_KPH)}


def _stable(d: dict[str, Any]) -> dict[str, Any]:
    """osmnx merges differing way attributes of a simplified edge into lists built from sets, in
    an order that changes between processes (string hashing); sort them so that a re-load in
    another process produces the same row (idempotence)."""
    out = dict(d)
    for key, v in d.items():
        if isinstance(v, list | tuple) and key != "geometry":
            out[key] = sorted(
                v, key=lambda x: (str(type(x)), x if isinstance(x, int | float) else str(x))
            )
    if isinstance(out.get("highway"), list):  # the most important class first
        out["highway"] = sorted(out["highway"], key=lambda h: (_CLASS_RANK.get(str(h), 99), str(h)))
    return out


def _edge_row(
    u: int, v: int, k: int, d: dict[str, Any], line: list[tuple[float, float]], *, two_way: bool
) -> dict[str, Any]:
    d = _stable(d)
    highway = _first(d.get("highway"))
    highway = None if highway is None else str(highway)
    classes = {str(h) for h in _as_list(d.get("highway"))}
    access = {str(a) for a in _as_list(d.get("access"))}
    drivable = bool(classes & DRIVABLE_HIGHWAYS) and not (access and access <= NO_ACCESS)
    length_m = float(d["length"])
    speed = parse_maxspeed(d.get("maxspeed"))
    if speed is None:
        speed = DEFAULT_SPEED_KPH.get(highway or "", NON_DRIVABLE_SPEED_KPH)
    name = _first(d.get("name"))
    osmid = _first(d.get("osmid"))
    raw = _json_safe(d)
    return {
        "source": u,
        "target": v,
        "osm_key": k,
        "osm_way_id": None if osmid is None else int(osmid),
        "name": None
        if name is None or (isinstance(name, float) and math.isnan(name))
        else str(name),
        "highway": highway,
        "oneway": not two_way,
        "drivable": drivable,
        "length_m": round(length_m, 3),
        "speed_kph": round(float(speed), 3),
        "travel_time_s": round(length_m / (speed / 3.6), 3),
        "cost": round(length_m, 3),
        "reverse_cost": round(length_m, 3) if two_way else -1.0,
        "geom": to_wkt(LineString(line), rounding_precision=WKT_DECIMALS),
        "raw": raw,
    }


# --------------------------------------------------------------------------- DB writes


def _unchanged(report: LoadReport, total: int) -> None:
    report.unchanged = total - report.inserted - report.updated


def _hull_wkt(points: list[tuple[float, float]]) -> str | None:
    from shapely import MultiPoint

    if not points:
        return None
    hull = MultiPoint(points).convex_hull.buffer(1e-7)
    return to_wkt(hull, rounding_precision=WKT_DECIMALS)


def load_roads(
    session: Session,
    *,
    path: Path | str,
    fmt: str | None = None,
    progress: bool = True,
) -> LoadReport:
    """Load a road network (``.osm``, ``.osm.pbf`` or osmnx ``.graphml``) into road_nodes/edges.

    Runs inside the caller's transaction and records a ``data_loads`` row (kind ``roads``), whose
    id bumps the version the in-memory routing graph watches. Idempotent: nodes are keyed by OSM
    id and edges by (source, target, osm_key); a re-load of the same file changes nothing. Edges and
    nodes inside the file's area (convex hull of its nodes) that the file no longer has are removed,
    so a changed file replaces the network of its area. Edges that cannot be used are rejects.
    """
    path = Path(path)
    fmt = _check_fmt(path, fmt, ROAD_FORMATS) if path.is_file() else fmt
    bar = tqdm(total=5, desc=f"roads {path.name}", disable=not progress, unit="step")
    bar.set_postfix_str("reading")
    G = read_road_graph(path, fmt=fmt)
    assert fmt is not None
    bar.update(1)
    report = LoadReport(kind="roads", fmt=fmt, path=str(path), sha256=sha256_file(path))
    nodes, edges, rejects, n_read = graph_rows(G)
    report.rejects = rejects
    report.rows_read = len(edges) + sum(1 for r in rejects if r.field != "node")
    bar.update(1)

    bar.set_postfix_str("nodes")
    n_ins, n_upd = upsert(session, table="road_nodes", rows=nodes, key=("id",))
    bar.update(1)
    bar.set_postfix_str("edges")
    report.inserted, report.updated = upsert(
        session, table="road_edges", rows=edges, key=("source", "target", "osm_key"), chunk=500
    )
    _unchanged(report, len(edges))
    bar.update(1)

    bar.set_postfix_str("pruning")
    hull = _hull_wkt([(float(d["x"]), float(d["y"])) for _, d in G.nodes(data=True) if "x" in d])
    removed_edges, removed_nodes = prune_road_area(session, hull_wkt=hull, nodes=nodes, edges=edges)
    bar.update(1)
    bar.close()
    n_two = sum(1 for e in edges if not e["oneway"])
    report.warnings.append(
        f"{len(nodes)} nodes ({n_ins} inserted, {n_upd} updated); {n_read} directed graph edges "
        f"folded into {len(edges)} rows ({n_two} two-way, {len(edges) - n_two} one-way)"
    )
    return finish_roads_load(
        session, report, removed_edges=removed_edges, removed_nodes=removed_nodes
    )


def prune_road_area(
    session: Session,
    *,
    hull_wkt: str | None,
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
) -> tuple[int, int]:
    """Delete the edges and nodes inside a loaded file's area (``hull_wkt``) that the file no
    longer has, so that a changed file replaces the network of its area; returns (edges, nodes)."""
    if not hull_wkt:
        return 0, 0
    removed_edges = session.execute(
        text("""
            delete from road_edges e
            where st_coveredby(e.geom, st_geomfromtext(:hull, 4326))
              and (e.source, e.target, e.osm_key) not in (
                  select * from unnest(cast(:s as bigint[]), cast(:t as bigint[]),
                                       cast(:k as int[])))
        """),
        {
            "hull": hull_wkt,
            "s": [e["source"] for e in edges],
            "t": [e["target"] for e in edges],
            "k": [e["osm_key"] for e in edges],
        },
    ).rowcount  # type: ignore[attr-defined]
    removed_nodes = session.execute(
        text("""
            delete from road_nodes n
            where st_coveredby(n.geom, st_geomfromtext(:hull, 4326))
              and n.id <> all(cast(:ids as bigint[]))
              and not exists (select 1 from road_edges e where e.source = n.id or e.target = n.id)
        """),
        {"hull": hull_wkt, "ids": [n["id"] for n in nodes]},
    ).rowcount  # type: ignore[attr-defined]
    return int(removed_edges), int(removed_nodes)


def finish_roads_load(
    session: Session, report: LoadReport, *, removed_edges: int, removed_nodes: int
) -> LoadReport:
    """The common end of every road load (OSM, graphml, lines): say what the area lost, record
    the load (the routing graph's version counter) and refresh what depends on the roads."""
    if removed_edges or removed_nodes:
        report.warnings.append(
            f"removed {removed_edges} edges and {removed_nodes} nodes of this area "
            "no longer in the file"
        )
    record_load(session, report)
    _after_roads_load(session)
    return report


def _after_roads_load(session: Session) -> None:
    """Refresh what depends on the road network (cameras on roads), when that module exists."""
    import importlib.util

    if importlib.util.find_spec("geo.camera_edges") is not None:
        from geo.camera_edges import refresh_camera_edges

        refresh_camera_edges(session)


# --------------------------------------------------------------------------- buildings


def read_buildings(path: Path, *, fmt: str | None = None) -> Any:
    """GeoDataFrame of ``building=*`` features of an OSM file (osmnx ``features_from_xml``)."""
    import osmnx as ox

    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="path")
    fmt = _check_fmt(path, fmt, ("osm", "pbf"))
    try:
        with tempfile.TemporaryDirectory(prefix="goldentime-osm-") as tmp:
            src = path
            if fmt == "pbf":
                src = Path(tmp) / "all.osm"
                osm_to_clean_xml(path, src, way_key=None)
            return ox.features_from_xml(src, tags={"building": True})
    except (LoadError, InvalidInput):
        raise
    except Exception as e:
        if type(e).__name__ == "InsufficientResponseError":
            raise LoadError(f"{path.name} has no building=* features", field="file") from e
        raise LoadError(f"cannot read buildings from {path.name}: {e}", field="file") from e


def _building_rows(gdf: Any) -> tuple[list[dict[str, Any]], list[Reject]]:
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    cols = [c for c in gdf.columns if c != "geometry"]
    for i, (idx, rec) in enumerate(gdf.iterrows(), start=1):
        osm_type, osm_id = idx if isinstance(idx, tuple) else ("way", idx)
        ident = f"{osm_type}/{osm_id}"
        geom = rec.geometry
        if geom is None or geom.is_empty:
            rejects.append(Reject(i, "building without geometry", "geometry", ident))
            continue
        if isinstance(geom, Polygon):
            geom = MultiPolygon([geom])
        if not isinstance(geom, MultiPolygon):
            rejects.append(
                Reject(i, f"building is a {geom.geom_type}, not a polygon", "geometry", ident)
            )
            continue
        if not geom.is_valid:
            from shapely import make_valid

            fixed = make_valid(geom)
            polys = [g for g in getattr(fixed, "geoms", [fixed]) if isinstance(g, Polygon)]
            if not polys:
                rejects.append(
                    Reject(i, "building polygon invalid and unrepairable", "geometry", ident)
                )
                continue
            geom = MultiPolygon(polys)
        tags = {c: rec[c] for c in cols if not _isnull(rec[c])}
        tags = _json_safe(tags)
        name = tags.get("name")
        rows.append(
            {
                "osm_type": str(osm_type),
                "osm_id": int(osm_id),
                "name": None if name is None else str(name),
                "building": str(tags.get("building"))[:64] if tags.get("building") else None,
                "height_m": parse_height_m(tags.get("height")),
                "levels": parse_levels(tags.get("building:levels")),
                "geom": to_wkt(geom, rounding_precision=WKT_DECIMALS),
                "raw": json.loads(json.dumps(tags, default=str)),
            }
        )
    rows.sort(key=lambda r: (r["osm_type"], r["osm_id"]))
    return rows, rejects


def _isnull(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    try:
        return bool(v != v)  # pandas NA
    except (TypeError, ValueError):
        return False


def load_buildings(
    session: Session,
    *,
    path: Path | str,
    fmt: str | None = None,
    progress: bool = True,
) -> LoadReport:
    """Load ``building=*`` footprints of an OSM file (``.osm`` / ``.osm.pbf``) into ``buildings``.

    Polygons become MultiPolygons; ``height_m`` from ``height``, ``levels`` from
    ``building:levels``. Idempotent upsert on (osm_type, osm_id); buildings inside the file's
    area that the file no longer has are removed. Point-only buildings are rejects (no footprint).
    """
    path = Path(path)
    bar = tqdm(total=3, desc=f"buildings {path.name}", disable=not progress, unit="step")
    gdf = read_buildings(path, fmt=fmt)
    fmt = _check_fmt(path, fmt, ("osm", "pbf"))
    bar.update(1)
    report = LoadReport(kind="buildings", fmt=fmt, path=str(path), sha256=sha256_file(path))
    rows, rejects = _building_rows(gdf)
    report.rows_read = len(gdf)
    report.rejects = rejects
    bar.update(1)
    report.inserted, report.updated = upsert(
        session, table="buildings", rows=rows, key=("osm_type", "osm_id"), chunk=500
    )
    _unchanged(report, len(rows))
    if rows:
        b = gdf.total_bounds
        area = to_wkt(Polygon.from_bounds(*b).buffer(1e-7), rounding_precision=WKT_DECIMALS)
        removed = session.execute(
            text("""
                delete from buildings b
                where st_coveredby(b.geom, st_geomfromtext(:area, 4326))
                  and (b.osm_type, b.osm_id) not in (
                      select * from unnest(cast(:t as text[]), cast(:i as bigint[])))
            """),
            {"area": area, "t": [r["osm_type"] for r in rows], "i": [r["osm_id"] for r in rows]},
        ).rowcount  # type: ignore[attr-defined]
        if removed:
            report.warnings.append(
                f"removed {removed} buildings of this area no longer in the file"
            )
    bar.update(1)
    bar.close()
    record_load(session, report)
    return report


__all__ = [
    "DEFAULT_SPEED_KPH",
    "DRIVABLE_HIGHWAYS",
    "ROAD_FORMATS",
    "graph_rows",
    "load_buildings",
    "load_roads",
    "osm_to_clean_xml",
    "parse_height_m",
    "parse_levels",
    "parse_maxspeed",
    "read_buildings",
    "read_road_graph",
]
