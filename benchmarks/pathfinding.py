"""Road-distance engine (issue 15): contraction hierarchies against Dijkstra and pgRouting, one run.

For each road network it builds the walking graph (every edge both ways, cost = metres, as
``benchmarks/routing.py`` does) from ``road_edges``, contracts it with ``geo.pathfinding.prepare``
(wall and CPU seconds, peak memory growth, size of the result) and times, on the same random node
pairs (p50 and p95):

* **CH** ``one_to_one`` (cost and unpacked node path);
* scipy ``dijkstra`` from the source over the whole graph (the search today's engine runs);
* ``pgr_dijkstra`` with the edges SQL over the whole table, and cropped to the pair's bounding
  box (+25 %, at least 300 m: what a pgRouting user writes);

and the nearest-camera shape, one place against 20 places nearby (each of the 21 a (node, cost)
pair): CH ``one_to_many`` against one scipy Dijkstra and one ``pgr_dijkstra`` one-to-many call.
Costs must agree: CH = scipy within 1e-9, CH = pgr_dijkstra within 0.1 %.
``--pandana`` also builds pandana's contraction hierarchy (C++) on the same graph.

Networks: the Helsinki extract, the Daejeon arterial network and synthetic grids (the loaders of
``benchmarks/routing.py``), loaded in turn into the separate database
``goldentime_bench_pathfinding`` (never the service's).

Run: ``.venv/bin/python benchmarks/pathfinding.py [--pairs 40] [--grids 300 500] [--pandana]``.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# run as a script, this folder is sys.path[0]: put the repository root first so `geo` imports
# (no file here may shadow a PyPI package numba imports: the coverage benchmark is
# planner_coverage.py for that reason)
sys.path.insert(0, str(ROOT))

from scipy.sparse import csr_matrix  # noqa: E402
from scipy.sparse.csgraph import connected_components, dijkstra  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import geo.pathfinding as P  # noqa: E402
from geo.pathfinding.engine import _arcs  # noqa: E402

BENCH_DB = "goldentime_bench_pathfinding"
DAEJEON = ROOT / "data" / "daejeon-osm" / "daejeon_arterial_osm.geojson"
WALK_SQL = "select id, source, target, length_m as cost from road_edges"


@lru_cache(maxsize=1)
def _routing() -> Any:
    """benchmarks/routing.py (its graph loaders), imported by path once: this folder also holds
    a ``coverage.py`` that must not shadow the PyPI package numba imports."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_routing", ROOT / "benchmarks" / "routing.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _url(db: str = BENCH_DB) -> str:
    from geo import embedded

    base = os.environ.get("DATABASE_URL") or embedded.start().url()
    return make_url(base).set(database=db).render_as_string(hide_password=False)


def _pct(samples: list[float]) -> tuple[float, float]:
    a = np.array(samples) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def load_daejeon(s: Session) -> str:
    from geo.load.lines import load_roads_any

    _routing()._clear(s)
    load_roads_any(s, path=DAEJEON, progress=False)
    return "Daejeon arterial network"


def read_graph(s: Session) -> dict[str, Any]:
    """Walking graph of ``road_edges`` as CSR (node index = position in road_nodes)."""
    nodes = s.execute(text("select id, st_x(geom), st_y(geom) from road_nodes order by id")).all()
    ids = np.array([r[0] for r in nodes], np.int64)
    xy = np.array([(r[1], r[2]) for r in nodes], float)
    e = s.execute(text("select source, target, length_m from road_edges")).all()
    src = np.searchsorted(ids, np.array([r[0] for r in e], np.int64))
    dst = np.searchsorted(ids, np.array([r[1] for r in e], np.int64))
    w = np.array([r[2] for r in e], float)
    u, v, ww = np.concatenate([src, dst]), np.concatenate([dst, src]), np.concatenate([w, w])
    order = np.argsort(u, kind="stable")
    ptr = np.zeros(len(ids) + 1, np.int64)
    np.cumsum(np.bincount(u, minlength=len(ids)), out=ptr[1:])
    return {"ids": ids, "xy": xy, "ptr": ptr, "idx": v[order], "w": ww[order], "edges": len(e)}


def prepare_measured(g: dict[str, Any]) -> tuple[Any, dict[str, float]]:
    """Contract, sampling the resident memory meanwhile (numba allocations included)."""
    return _routing().measure_build(lambda: P.prepare(g["ptr"], g["idx"], g["w"]))


def _box_sql(xy: np.ndarray, a: int, b: int) -> str:
    return f"{WALK_SQL} where geom && {_routing().box_envelope(xy, a, b)}"


def _pgr(s: Session, sql: str, a: int, b: int) -> tuple[float, float | None]:
    t = time.perf_counter()
    c = s.execute(
        text("select max(agg_cost) from pgr_dijkstra(:q, :a, :b, directed => false)"),
        {"q": sql, "a": a, "b": b},
    ).scalar_one()
    return time.perf_counter() - t, c


def run(s: Session, label: str, pairs_n: int, seed: int, pandana: bool) -> dict[str, Any]:
    g = read_graph(s)
    n, ids, xy = len(g["ids"]), g["ids"], g["xy"]
    print(f"  graph read: {n:,} nodes; contracting ...", flush=True)
    p, build = prepare_measured(g)
    print(f"  contracted in {build['wall']:.1f} s; timing {pairs_n} pairs ...", flush=True)
    # scipy's reference on the same arcs: loops dropped, cheapest of parallel arcs (a raw CSR
    # with duplicate columns made connected_components hang here)
    _, au, av, aw = _arcs(g["ptr"], g["idx"], g["w"])
    A = csr_matrix((aw, (au, av)), shape=(n, n))
    _, lab = connected_components(A, directed=True, connection="strong")
    main = np.flatnonzero(lab == np.argmax(np.bincount(lab)))
    rnd = random.Random(seed)
    pairs = [(a, b) for a, b in (rnd.sample(main.tolist(), 2) for _ in range(pairs_n))]
    t_ch, t_sp, t_pg, t_box, bad, box_wrong, lens = [], [], [], [], 0, 0, []
    for a, b in pairs:
        t = time.perf_counter()
        cost, path = P.one_to_one(p, [(a, 0.0)], [(b, 0.0)])
        t_ch.append(time.perf_counter() - t)
        t = time.perf_counter()
        ref = dijkstra(A, indices=a)[b]
        t_sp.append(time.perf_counter() - t)
        dt, pg = _pgr(s, WALK_SQL, int(ids[a]), int(ids[b]))
        t_pg.append(dt)
        dt, pgb = _pgr(s, _box_sql(xy, a, b), int(ids[a]), int(ids[b]))
        t_box.append(dt)
        ok_path = path[0] == a and path[-1] == b
        if not (ok_path and abs(cost - ref) <= 1e-9 * ref and pg and abs(cost - pg) <= 1e-3 * pg):
            bad += 1
        box_wrong += pgb is None or abs(pgb - cost) > 1e-3 * cost
        lens.append(cost)
    # one place against its 20 nearest places (straight line), like the nearest-camera ranking
    from scipy.spatial import cKDTree

    lat0 = float(np.mean(xy[:, 1]))
    m_xy = np.c_[xy[main, 0] * 111_320 * math.cos(math.radians(lat0)), xy[main, 1] * 110_574]
    tree = cKDTree(m_xy)
    t_m_ch, t_m_sp, t_m_pg, bad_m = [], [], [], 0
    for a, _ in pairs[: min(20, len(pairs))]:
        near = main[tree.query(m_xy[np.searchsorted(main, a)], k=21)[1][1:]]
        tg = [[(int(x), 5.0)] for x in near]
        t = time.perf_counter()
        got = P.one_to_many(p, [(a, 5.0)], tg)
        t_m_ch.append(time.perf_counter() - t)
        t = time.perf_counter()
        want = dijkstra(A, indices=a)[near] + 10.0
        t_m_sp.append(time.perf_counter() - t)
        t = time.perf_counter()
        s.execute(
            text("select count(*) from pgr_dijkstra(:q, :a, :b, directed => false)"),
            {"q": WALK_SQL, "a": int(ids[a]), "b": [int(ids[x]) for x in near]},
        ).scalar_one()
        t_m_pg.append(time.perf_counter() - t)
        bad_m += not np.allclose(got, want, rtol=1e-9)
    res = {
        "label": label,
        "nodes": n,
        "edges": g["edges"],
        "arcs": p.arcs,
        "shortcuts": p.shortcuts,
        "mb": p.nbytes / 1e6,
        "max_degree": p.extra.get("max_degree", 0),
        "build": build,
        "pairs": len(pairs),
        "bad": bad,
        "box_wrong": box_wrong,
        "mean_m": float(np.mean(lens)),
        "ch": _pct(t_ch),
        "scipy": _pct(t_sp),
        "pgr": _pct(t_pg),
        "pgr_box": _pct(t_box),
        "m_ch": _pct(t_m_ch),
        "m_scipy": _pct(t_m_sp),
        "m_pgr": _pct(t_m_pg),
        "bad_m": bad_m,
    }
    if pandana:
        res["pandana"] = pandana_run(g, pairs)
    return res


def pandana_run(g: dict[str, Any], pairs: list[tuple[int, int]]) -> dict[str, Any]:
    import pandana
    import pandas as pd

    n = len(g["ids"])
    rows = np.repeat(np.arange(n), np.diff(g["ptr"]))
    nodes = pd.DataFrame({"x": g["xy"][:, 0], "y": g["xy"][:, 1]}, index=np.arange(n))
    t = time.perf_counter()
    net = pandana.Network(
        nodes["x"], nodes["y"], rows, g["idx"], pd.DataFrame({"w": g["w"]}), twoway=False
    )
    build = time.perf_counter() - t
    single = []
    for a, b in pairs:
        t = time.perf_counter()
        net.shortest_path_length(a, b)
        single.append(time.perf_counter() - t)
    t = time.perf_counter()
    net.shortest_path_lengths([a for a, _ in pairs], [b for _, b in pairs])
    batch = (time.perf_counter() - t) / len(pairs)
    return {"build": build, "single": _pct(single), "batch_ms": batch * 1000}


def report(r: dict[str, Any]) -> str:
    b = r["build"]
    per100k = 1e5 / max(r["arcs"], 1)
    lines = [
        f"### {r['label']}: {r['nodes']:,} nodes, {r['edges']:,} edges ({r['arcs']:,} arcs)",
        "",
        f"CH preprocessing: {b['wall']:.1f} s wall, {b['cpu']:.1f} s CPU "
        f"({b['cpu'] * per100k:.1f} s CPU per 100k arcs); {r['shortcuts']:,} shortcuts, highest "
        f"degree while contracting {r['max_degree']:.0f}; "
        f"query structure {r['mb']:.1f} MB ({r['mb'] * per100k:.1f} MB per 100k arcs), peak "
        f"memory growth while contracting {b['peak_mb']:.0f} MB. {r['pairs']} random pairs, mean "
        f"{r['mean_m']:.0f} m; costs disagreeing (CH vs scipy 1e-9, vs pgr_dijkstra 0.1 %): "
        f"{r['bad']}; bbox-cropped pgr_dijkstra wrong or no path: {r['box_wrong']}.",
        "",
        "| per route (walk, node to node) | p50 ms | p95 ms | CH speed-up p50 / p95 |",
        "|---|---:|---:|---:|",
    ]
    c50, c95 = r["ch"]
    for key, name in (
        ("ch", "**CH** `one_to_one` (+ node path)"),
        ("scipy", "scipy Dijkstra, whole graph"),
        ("pgr", "pgr_dijkstra, whole table"),
        ("pgr_box", "pgr_dijkstra, edges cropped to bbox"),
    ):
        p50, p95 = r[key]
        lines.append(f"| {name} | {p50:.3f} | {p95:.3f} | {p50 / c50:.0f}x / {p95 / c95:.0f}x |")
    if "pandana" in r:
        pd_ = r["pandana"]
        lines.append(
            f"| pandana CH (build {pd_['build']:.1f} s) single query | {pd_['single'][0]:.3f} | "
            f"{pd_['single'][1]:.3f} | {pd_['single'][0] / c50:.1f}x / {pd_['single'][1] / c95:.1f}x |"
        )
        lines.append(f"| pandana, all pairs in one call (per pair) | {pd_['batch_ms']:.3f} | | |")
    m50, m95 = r["m_ch"]
    lines += [
        "",
        "| one place vs 20 nearby places | p50 ms | p95 ms | CH speed-up p50 / p95 |",
        "|---|---:|---:|---:|",
    ]
    for key, name in (
        ("m_ch", "**CH** `one_to_many`"),
        ("m_scipy", "scipy Dijkstra, whole graph"),
        ("m_pgr", "pgr_dijkstra one-to-many, whole table"),
    ):
        p50, p95 = r[key]
        lines.append(f"| {name} | {p50:.3f} | {p95:.3f} | {p50 / m50:.0f}x / {p95 / m95:.0f}x |")
    lines.append(f"\none-to-many costs disagreeing with scipy: {r['bad_m']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--grids", type=int, nargs="*", default=[300, 500])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--pandana", action="store_true", help="also build pandana's CH (slow)")
    ap.add_argument("--skip-real", action="store_true", help="grids only")
    ap.add_argument("--db", default=BENCH_DB, help="database name (two runs at once: two names)")
    args = ap.parse_args()

    load_grid, load_helsinki = _routing().load_grid, _routing().load_helsinki
    from geo.embedded import ensure_database
    from geo.schema import migrate

    url = _url(args.db)
    ensure_database(url)
    migrate(url)
    os.environ["GOLDENTIME_DATABASE_URL"] = url
    from geo.settings import get_settings

    get_settings.cache_clear()
    eng = create_engine(url)
    P.one_to_one(P.prepare(np.array([0, 1, 1]), np.array([1]), np.array([1.0])), [(0, 0)], [(1, 0)])
    loaders: list[Any] = [] if args.skip_real else [load_helsinki, load_daejeon]
    loaders += [lambda s, k=k: load_grid(s, k, n_cameras=0) for k in args.grids]
    out = []
    for loader in loaders:
        with Session(eng) as s, s.begin():
            t = time.perf_counter()
            label = loader(s)
            print(f"loaded {label} in {time.perf_counter() - t:.1f} s", flush=True)
        with Session(eng) as s, s.begin():
            s.execute(text("analyze road_edges"))
            res = run(s, label, args.pairs, args.seed, args.pandana)
        txt = report(res)
        print(txt + "\n", flush=True)
        out.append(txt)
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
