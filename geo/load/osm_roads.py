"""Road network rows from an osmnx graph and their load into ``road_nodes`` / ``road_edges``.

The rows are in the layout pgRouting takes as-is: one row per edge geometry, ``cost = length_m``
and ``reverse_cost = length_m`` on two-way streets, ``-1`` on one-way streets (osmnx's u->v / v->u
twin edges are folded into one row). Node ids are OSM node ids, so they are stable across re-loads
and shared between overlapping extracts. :func:`prune_road_area` and :func:`finish_roads_load` are
the common end of every road load (OSM, graphml and the line files of :mod:`geo.load.lines`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from shapely import LineString, Point, to_wkt
from sqlalchemy import text
from sqlalchemy.orm import Session
from tqdm import tqdm

from geo.load.common import LoadReport, Reject, record_load, sha256_file, upsert
from geo.load.osm_files import ROAD_FORMATS, _check_fmt, read_road_graph
from geo.load.osm_tags import (
    DEFAULT_SPEED_KPH,
    DRIVABLE_HIGHWAYS,
    NO_ACCESS,
    NON_DRIVABLE_SPEED_KPH,
    WKT_DECIMALS,
    _as_list,
    _first,
    _json_safe,
    parse_maxspeed,
)


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
    report.unchanged = len(edges) - report.inserted - report.updated
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
