"""Routing: the in-process engine (geo.routing) against pgRouting and networkx, in one run.

On the same random node pairs (walking: undirected, cost = metres) it times, per pair:

* **engine**: snap both points + route (bidirectional radius-limited scipy Dijkstra) + cameras
  along the route (``cameras_along``), and the whole ``find_route`` call (adds the load-counter
  check, camera look-ups and review windows);
* **pgr_dijkstra** plain (edges SQL = the whole ``road_edges``), with the edges SQL cropped to
  the pair's bounding box (+25 %, at least 300 m), and many pairs in one call (combinations SQL,
  time divided by the pairs);
* **networkx** ``shortest_path_length`` (Dijkstra) on the same graph;

and for the reachable set (10 minutes on foot at 7 km/h = 1,167 m) the engine's
``reachable_times`` (Dijkstra with ``limit`` + cameras reached) and the whole ``reachable`` call
(adds isochrone polygons) against ``pgr_drivingDistance`` with the same distance.

Graphs: the Helsinki extract (``helsinki_center_highways.osm`` + its 221 cameras) and a synthetic
grid of >= 100k edges (100 m blocks, 2,000 cameras), loaded in turn into the separate database
``goldentime_bench_routing`` (never the service's). Lengths are checked to agree (0.1 %).

Run: ``.venv/bin/python benchmarks/routing.py [--pairs 30] [--grid 230]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

BENCH_DB = "goldentime_bench_routing"
DATA = ROOT / "data" / "helsinki-osm"
WALK_M = 7 / 3.6 * 600  # 10 minutes at the fastest plausible walking speed


def _url() -> str:
    from geo import embedded

    base = os.environ.get("DATABASE_URL") or embedded.start().url()
    return make_url(base).set(database=BENCH_DB).render_as_string(hide_password=False)


def _ms(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples) * 1000, statistics.mean(samples) * 1000


def _clear(s: Session) -> None:
    s.execute(text("truncate camera_edges, camera_views, road_edges, road_nodes cascade"))
    s.execute(text("delete from cameras where source in ('osm', 'bench-grid')"))


def load_helsinki(s: Session) -> str:
    from geo.load.cameras import load_cameras
    from geo.load.osm import load_roads

    _clear(s)
    load_roads(s, path=DATA / "helsinki_center_highways.osm", progress=False)
    load_cameras(s, path=DATA / "helsinki_center.osm.pbf", progress=False)
    from geo.camera_edges import refresh_camera_edges

    refresh_camera_edges(s)
    return "Helsinki extract"


def load_grid(s: Session, n: int, n_cameras: int = 2000) -> str:
    """An n x n grid of 100 m blocks near 60.0N 25.0E: 2 n (n - 1) edges, 10 % one-way."""
    from geo.camera_edges import refresh_camera_edges
    from geo.views import refresh_camera_views

    _clear(s)
    lat0, lon0 = 60.0, 25.0
    dlat = 100 / 110_574.0
    dlon = 100 / (111_320.0 * math.cos(math.radians(lat0)))
    rnd = random.Random(1)
    conn = s.connection().connection.driver_connection
    assert conn is not None
    with conn.cursor() as cur:
        with cur.copy("copy road_nodes (id, osm_id, street_count, geom) from stdin") as cp:
            for i in range(n):
                for j in range(n):
                    nid = i * n + j + 1
                    cp.write_row(
                        (nid, nid, 4, f"SRID=4326;POINT({lon0 + j * dlon} {lat0 + i * dlat})")
                    )
        eid = 0
        cols = (
            "id, source, target, osm_key, osm_way_id, name, highway, oneway, drivable, length_m, "
            "speed_kph, travel_time_s, cost, reverse_cost, geom"
        )
        with cur.copy(f"copy road_edges ({cols}) from stdin") as cp:
            for i in range(n):
                for j in range(n):
                    a = i * n + j + 1
                    for di, dj in ((0, 1), (1, 0)):
                        if i + di >= n or j + dj >= n:
                            continue
                        b = (i + di) * n + (j + dj) + 1
                        eid += 1
                        x0, y0 = lon0 + j * dlon, lat0 + i * dlat
                        x1, y1 = lon0 + (j + dj) * dlon, lat0 + (i + di) * dlat
                        length = 100.0 + rnd.random()  # small jitter: unique shortest paths
                        speed = rnd.choice((30.0, 40.0, 50.0))
                        oneway = rnd.random() < 0.1
                        cp.write_row(
                            (
                                eid,
                                a,
                                b,
                                0,
                                None,
                                None,
                                "residential",
                                oneway,
                                True,
                                length,
                                speed,
                                length / (speed / 3.6),
                                length,
                                -1.0 if oneway else length,
                                f"SRID=4326;LINESTRING({x0} {y0},{x1} {y1})",
                            )
                        )
    s.execute(text("select setval(pg_get_serial_sequence('road_edges', 'id'), :m)"), {"m": eid})
    s.execute(
        text("""insert into cameras (source, external_id, purpose, geom, raw)
                select 'bench-grid', 'g' || g, 'crime_prevention',
                       st_setsrid(st_makepoint(:lon0 + random() * :w, :lat0 + random() * :h), 4326),
                       '{"bench": "grid"}'::jsonb
                from generate_series(1, :k) g"""),
        {"lon0": lon0, "lat0": lat0, "w": (n - 1) * dlon, "h": (n - 1) * dlat, "k": n_cameras},
    )
    s.execute(
        text(
            "insert into data_loads (kind, fmt, path, sha256, rows_read, inserted, updated, "
            "unchanged, rejected) values ('roads', 'grid', 'synthetic', '', :e, :e, 0, 0, 0)"
        ),
        {"e": eid},
    )
    ids = list(s.execute(text("select id from cameras where source = 'bench-grid'")).scalars())
    refresh_camera_views(s, camera_ids=ids)
    refresh_camera_edges(s)
    return f"synthetic grid {n}x{n}"


def run(s: Session, label: str, pairs_n: int, seed: int) -> dict[str, Any]:
    import networkx as nx

    from geo import routing as R

    R._cache.clear()
    t = time.perf_counter()
    g = R.get_graph(s)
    build_s = time.perf_counter() - t
    n_edges = len(g.edge_ids)
    xy = {int(i): (float(x), float(y)) for i, (x, y) in zip(g.node_ids, g.node_xy, strict=True)}
    # networkx walking graph (same arcs as the engine's walk graph)
    G = nx.Graph()
    for i in range(n_edges):
        a, b = int(g.node_ids[g.src[i]]), int(g.node_ids[g.dst[i]])
        if a != b and (not G.has_edge(a, b) or G[a][b]["w"] > g.length_m[i]):
            G.add_edge(a, b, w=float(g.length_m[i]))
    comp = sorted(max((set(c) for c in nx.connected_components(G)), key=len))  # type: ignore[arg-type]
    rnd = random.Random(seed)
    pairs = [tuple(rnd.sample(comp, 2)) for _ in range(pairs_n)]

    eng, warm, full, nxs, pgr, pgr_box, lens = [], [], [], [], [], [], []
    walk_sql = "select id, source, target, length_m as cost from road_edges"

    def engine_route(a: int, b: int) -> Any:
        sa = R.snap(g, lon=xy[a][0], lat=xy[a][1], mode="walk", field="from")
        sb = R.snap(g, lon=xy[b][0], lat=xy[b][1], mode="walk", field="to")
        r = R.route(g, start=sa, end=sb, mode="walk")
        R.cameras_along(g, r)
        return r

    for a, b in pairs:
        R._tree_cache.clear()  # cold: no cached single-source tree
        t = time.perf_counter()
        r = engine_route(a, b)
        eng.append(time.perf_counter() - t)
        t = time.perf_counter()
        engine_route(a, b)  # warm: the origin's tree is cached (small graphs only)
        warm.append(time.perf_counter() - t)
        R._tree_cache.clear()
        t = time.perf_counter()
        R.find_route(
            s,
            origin=R.Place(lon=xy[a][0], lat=xy[a][1]),
            destination=R.Place(lon=xy[b][0], lat=xy[b][1]),
            mode="walk",
            depart_at=dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC),
        )
        full.append(time.perf_counter() - t)
        t = time.perf_counter()
        ref = nx.shortest_path_length(G, a, b, weight="w")
        nxs.append(time.perf_counter() - t)
        t = time.perf_counter()
        pg = s.execute(
            text("select max(agg_cost) from pgr_dijkstra(:q, :a, :b, directed => false)"),
            {"q": walk_sql, "a": a, "b": b},
        ).scalar_one()
        pgr.append(time.perf_counter() - t)
        x0, x1 = sorted((xy[a][0], xy[b][0]))
        y0, y1 = sorted((xy[a][1], xy[b][1]))
        mx = max((x1 - x0) * 0.25, 300 / (111_320 * math.cos(math.radians(y0))))
        my = max((y1 - y0) * 0.25, 300 / 110_574)
        box_sql = (
            f"{walk_sql} where geom && st_makeenvelope({x0 - mx}, {y0 - my}, "
            f"{x1 + mx}, {y1 + my}, 4326)"
        )
        t = time.perf_counter()
        pgb = s.execute(
            text("select max(agg_cost) from pgr_dijkstra(:q, :a, :b, directed => false)"),
            {"q": box_sql, "a": a, "b": b},
        ).scalar_one()
        pgr_box.append(time.perf_counter() - t)
        lens.append((r.length_m, ref, pg, pgb))
    combos = " union all ".join(
        f"select {a}::bigint as source, {b}::bigint as target" for a, b in pairs
    )
    t = time.perf_counter()
    s.execute(
        text("select count(*) from pgr_dijkstra(:q, :c, directed => false)"),
        {"q": walk_sql, "c": combos},
    ).scalar_one()
    pgr_many = (time.perf_counter() - t) / len(pairs)
    agree = sum(
        1 for e, n_, p, _ in lens if abs(e - n_) <= 1e-3 * n_ + 0.5 and abs(e - p) <= 1e-3 * p + 0.5
    )
    box_wrong = sum(1 for e, _, _, pb in lens if pb is None or abs(pb - e) > 1e-3 * e + 0.5)

    # reachable: 10 minutes on foot from the first node of each pair
    rch, rch_full, dd = [], [], []
    speeds = R.SpeedRange.for_mode("walk")
    for a, _ in pairs[: min(len(pairs), 20)]:
        t = time.perf_counter()
        sa = R.snap(g, lon=xy[a][0], lat=xy[a][1], mode="walk", field="origin")
        R.reachable_times(g, sa, mode="walk", speeds=speeds, max_s=600)
        rch.append(time.perf_counter() - t)
        t = time.perf_counter()
        R.reachable(
            s,
            origin=R.Place(lon=xy[a][0], lat=xy[a][1]),
            mode="walk",
            max_minutes=10,
            at=dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC),
        )
        rch_full.append(time.perf_counter() - t)
        t = time.perf_counter()
        s.execute(
            text("select count(*) from pgr_drivingDistance(:q, :a, :d, directed => false)"),
            {"q": walk_sql, "a": a, "d": WALK_M},
        ).scalar_one()
        dd.append(time.perf_counter() - t)
    return {
        "label": label,
        "edges": n_edges,
        "nodes": len(g.node_ids),
        "build_s": build_s,
        "cameras": len(g.camera_xy),
        "pairs": len(pairs),
        "agree": agree,
        "box_wrong": box_wrong,
        "engine": _ms(eng),
        "warm": _ms(warm),
        "find_route": _ms(full),
        "networkx": _ms(nxs),
        "pgr": _ms(pgr),
        "pgr_box": _ms(pgr_box),
        "pgr_many": (pgr_many * 1000, pgr_many * 1000),
        "reach": _ms(rch),
        "reach_full": _ms(rch_full),
        "dd": _ms(dd),
        "mean_len": float(np.mean([x[0] for x in lens])),
    }


def report(res: dict[str, Any]) -> str:
    e = res["engine"][0]
    lines = [
        f"### {res['label']}: {res['nodes']:,} nodes, {res['edges']:,} edges, "
        f"{res['cameras']:,} cameras on roads",
        "",
        f"graph build (from PostGIS, both modes + camera index): {res['build_s']:.2f} s; "
        f"{res['pairs']} random pairs, mean route {res['mean_len']:.0f} m; "
        f"lengths agree (engine = networkx = pgr_dijkstra within 0.1 %): "
        f"{res['agree']}/{res['pairs']}",
        "",
        "| per route (walk) | median ms | mean ms | engine speed-up (median) |",
        "|---|---:|---:|---:|",
    ]
    for key, name in (
        ("engine", "**engine**: snap + route + cameras along (cold)"),
        ("warm", "engine, same origin again (cached tree; graphs <= 10k nodes)"),
        ("find_route", "engine `find_route` (+ version check, windows; cold)"),
        ("pgr", "pgr_dijkstra, whole table"),
        ("pgr_box", "pgr_dijkstra, edges cropped to bbox"),
        ("pgr_many", "pgr_dijkstra, all pairs in one call (per pair)"),
        ("networkx", "networkx Dijkstra"),
    ):
        med, mean = res[key]
        lines.append(f"| {name} | {med:.2f} | {mean:.2f} | {med / e:.1f}x |")
    r = res["reach"][0]
    lines += [
        "",
        f"bbox-cropped pgr_dijkstra gave a wrong (longer) or no path for {res['box_wrong']} pairs.",
        "",
        "| reachable, 10 min on foot (1,167 m) | median ms | mean ms | engine speed-up (median) |",
        "|---|---:|---:|---:|",
    ]
    for key, name in (
        ("reach", "**engine** `reachable_times` (nodes + cameras)"),
        ("reach_full", "engine `reachable` (+ isochrone polygons)"),
        ("dd", "pgr_drivingDistance"),
    ):
        med, mean = res[key]
        lines.append(f"| {name} | {med:.2f} | {mean:.2f} | {med / r:.1f}x |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--grid", type=int, default=230, help="grid side (230 -> 105,340 edges)")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    from geo.embedded import ensure_database
    from geo.schema import migrate

    url = _url()
    ensure_database(url)
    migrate(url)
    os.environ["GOLDENTIME_DATABASE_URL"] = url
    from geo.settings import get_settings

    get_settings.cache_clear()
    from sqlalchemy import create_engine

    eng = create_engine(url)
    out = []
    for loader in (lambda s: load_helsinki(s), lambda s: load_grid(s, args.grid)):
        with Session(eng) as s, s.begin():
            t = time.perf_counter()
            label = loader(s)
            print(f"loaded {label} in {time.perf_counter() - t:.1f} s", flush=True)
        with Session(eng) as s, s.begin():
            s.execute(text("analyze road_edges"))
            res = run(s, label, args.pairs, args.seed)
        txt = report(res)
        print(txt + "\n", flush=True)
        out.append(txt)
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
