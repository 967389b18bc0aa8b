"""Routing end to end (issue 15): the one engine (geo.routing) against pgRouting, in one run.

For each network, on the same random node pairs (walking: every edge both ways except
motorways, shortest by length), p50 and p95 per pair:

* **engine**: ``find_route`` with the graph in hand (snap both places, the route through the
  contraction hierarchy of ``geo.pathfinding``, cameras along it, review windows, the JSON
  answer), and the same call reading the load counter (``find_route`` as the API calls it);
  **route + cameras along** (the issue's measure: ``route_places`` snaps both places and
  makes the route with its geometry and cameras along, then ``cameras_along`` lists them; no
  review windows or JSON) and the parts (``snap``, ``route``, ``cameras_along``) on their own;
  every call of a pair (these, pgRouting's and networkx's) runs in a new random order, so none
  is always timed right after a database wait (cold caches, an idle core) or always after
  Python work;
* the same engine on its **scipy searches** (what graphs of up to ``SMALL_GRAPH_NODES`` use,
  and larger ones until their hierarchy is ready);
* **pgr_dijkstra** over the whole table, and with the edges SQL cropped to the pair's bbox
  (+25 %, at least 300 m: what a pgRouting user writes);
* networkx Dijkstra (lengths must agree: engine = networkx = pgr_dijkstra within 0.1 %);

and the reachable set, 10 minutes on foot at 7 km/h (1,167 m): ``reachable_times`` against
``pgr_drivingDistance`` (same edges). Preprocessing (the hierarchy of both modes: wall and CPU
seconds, peak memory growth, size) is reported per 100k edges.

Networks: the Helsinki extract (+ its OSM cameras), the real Daejeon arterial network (+ the
national-standard Daejeon camera file) and synthetic grids of 100 m blocks (``--grids 300 500``:
90k and 250k nodes, 10 % one-way, cameras at random), each in its own database
``goldentime_bench_routing_<name>`` (never the service's), loaded once and reused by later runs.
A grid's hierarchy can take minutes to build: ``--reuse-ch`` keeps it (with its build figures,
date and load average, printed when reused) in ``.goldentime/bench-cache/``, keyed by the
graph's arrays and the fields of ``Prepared`` (a hierarchy built by older contraction code is
still exact; its query speed is that of its shortcuts).

Run: ``.venv/bin/python benchmarks/routing.py [--pairs 40] [--grids 300] [--skip-real]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import math
import os
import pickle
import random
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

BENCH_DB = "goldentime_bench_routing"
DATA = ROOT / "data" / "helsinki-osm"
DAEJEON = ROOT / "data" / "daejeon-osm" / "daejeon_arterial_osm.geojson"
DAEJEON_CAMS = ROOT / "data" / "daejeon-cctv" / "national_standard_cctv_daejeon_2026_cp949.csv"
CACHE = ROOT / ".goldentime" / "bench-cache"
WALK_M = 7 / 3.6 * 600  # 10 minutes at the fastest plausible walking speed
WALK_SQL = (
    "select id, source, target, length_m as cost from road_edges "
    "where highway is distinct from 'motorway' and highway is distinct from 'motorway_link'"
)
DEPART = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)


def _url(db: str = BENCH_DB) -> str:
    from geo import embedded

    base = os.environ.get("DATABASE_URL") or embedded.start().url()
    return make_url(base).set(database=db).render_as_string(hide_password=False)


def _pct(samples: list[float]) -> tuple[float, float]:
    a = np.array(samples) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


T = TypeVar("T")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def measure_build(build: Callable[[], T]) -> tuple[T, dict[str, float]]:
    """Run ``build`` sampling resident memory every 20 ms (numba allocations included): its
    result and ``{"wall", "cpu", "peak_mb"}`` (peak growth over the resident size before)."""
    base, peak, stop = _rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t, c = time.perf_counter(), time.process_time()
    try:
        out = build()
    finally:
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        stop.set()
        th.join()
    return out, {"wall": wall, "cpu": cpu, "peak_mb": max(peak[0], _rss_mb()) - base}


# --------------------------------------------------------------------------- networks


def _clear(s: Session) -> None:
    s.execute(text("truncate camera_edges, camera_views, road_edges, road_nodes cascade"))
    s.execute(text("delete from cameras where source in ('osm', 'bench-grid')"))


def load_helsinki(s: Session) -> str:
    from geo.camera_edges import refresh_camera_edges
    from geo.load.cameras import load_cameras
    from geo.load.osm import load_roads

    _clear(s)
    load_roads(s, path=DATA / "helsinki_center_highways.osm", progress=False)
    load_cameras(s, path=DATA / "helsinki_center.osm.pbf", progress=False)
    refresh_camera_edges(s)
    return "Helsinki extract"


def load_daejeon(s: Session) -> str:
    from geo.camera_edges import refresh_camera_edges
    from geo.load.cameras import load_cameras
    from geo.load.lines import load_roads_any

    _clear(s)
    load_roads_any(s, path=DAEJEON, progress=False)
    load_cameras(s, path=DAEJEON_CAMS, progress=False)
    refresh_camera_edges(s)
    return "Daejeon arterial network"


def _grid_rows(n: int, lon0: float, lat0: float, dlon: float, dlat: float) -> Any:
    rnd = random.Random(1)
    eid = 0
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
                yield (
                    eid, a, b, 0, None, None, "residential", oneway, True, length, speed,
                    length / (speed / 3.6), length, -1.0 if oneway else length,
                    f"SRID=4326;LINESTRING({x0} {y0},{x1} {y1})",
                )  # fmt: skip


def load_grid(s: Session, n: int, n_cameras: int = 2000) -> str:
    """An n x n grid of 100 m blocks near 60.0N 25.0E: 2 n (n - 1) edges, 10 % one-way."""
    from geo.camera_edges import refresh_camera_edges
    from geo.views import refresh_camera_views

    _clear(s)
    lat0, lon0 = 60.0, 25.0
    dlat = 100 / 110_574.0
    dlon = 100 / (111_320.0 * math.cos(math.radians(lat0)))
    conn = s.connection().connection.driver_connection
    assert conn is not None
    eid = 0
    with conn.cursor() as cur:
        with cur.copy("copy road_nodes (id, osm_id, street_count, geom) from stdin") as cp:
            for i in range(n):
                for j in range(n):
                    nid = i * n + j + 1
                    cp.write_row(
                        (nid, nid, 4, f"SRID=4326;POINT({lon0 + j * dlon} {lat0 + i * dlat})")
                    )
        cols = (
            "id, source, target, osm_key, osm_way_id, name, highway, oneway, drivable, length_m, "
            "speed_kph, travel_time_s, cost, reverse_cost, geom"
        )
        with cur.copy(f"copy road_edges ({cols}) from stdin") as cp:
            for row in _grid_rows(n, lon0, lat0, dlon, dlat):
                cp.write_row(row)
                eid = row[0]
    s.execute(text("select setval(pg_get_serial_sequence('road_edges', 'id'), :m)"), {"m": eid})
    s.execute(
        text("""insert into cameras (source, external_id, purpose, geom)
                select 'bench-grid', 'g' || g, 'crime_prevention',
                       st_setsrid(st_makepoint(:lon0 + random() * :w, :lat0 + random() * :h), 4326)
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
    return f"grid {n}x{n}"


def _marked(s: Session, name: str) -> bool:
    s.execute(text("create table if not exists bench_loaded (name text primary key)"))
    return (
        s.execute(text("select 1 from bench_loaded where name = :n"), {"n": name}).first()
        is not None
    )


def ensure_network(name: str, loader: Callable[[Session], str], label: str) -> Any:
    """The network's own database, loaded once (a later run reuses it); returns an engine."""
    from geo.embedded import ensure_database
    from geo.schema import migrate

    url = _url(f"{BENCH_DB}_{name}")
    ensure_database(url)
    eng = create_engine(url)
    with Session(eng) as s, s.begin():
        if _marked(s, name):  # loaded by an earlier run: no migration needed
            print(f"{label}: already loaded in {BENCH_DB}_{name}", flush=True)
            return eng
    migrate(url)
    with Session(eng) as s, s.begin():
        t = time.perf_counter()
        loader(s)
        s.execute(text("insert into bench_loaded values (:n)"), {"n": name})
        print(f"loaded {label} in {time.perf_counter() - t:.1f} s", flush=True)
    with Session(eng) as s, s.begin():
        s.execute(text("analyze road_edges"))
        s.execute(text("analyze road_nodes"))
    return eng


# --------------------------------------------------------------------------- preprocessing


def _ch_key(g: Any) -> str:
    h = hashlib.sha1()
    for mg in g.modes.values():
        for a in (mg.csr.indptr, mg.csr.indices, mg.csr.data):
            h.update(np.ascontiguousarray(a).tobytes())
    from geo.pathfinding import Prepared

    h.update(" ".join(Prepared.__dataclass_fields__).encode())  # the structure, not the code
    return h.hexdigest()[:16]


def prepare_measured(g: Any, name: str, reuse: bool) -> dict[str, Any]:
    """Build the hierarchy of both modes here (the engine does it in a background thread),
    sampling resident memory meanwhile; with ``reuse``, a cached one of the same graph and
    code is loaded instead and its recorded figures reported."""
    from geo.routing import search

    path = CACHE / f"routing-{name}-{_ch_key(g)}.pkl"
    if reuse and path.exists():
        with open(path, "rb") as f:
            saved = pickle.load(f)
        for mode, p in saved["prepared"].items():
            g.modes[mode].prepared = p
        return {**saved["figures"], "cached": str(path.relative_to(ROOT))}
    _, build = measure_build(lambda: search.prepare(g, min_nodes=0))
    ps = {m: mg.prepared for m, mg in g.modes.items()}
    figures = {
        **build,
        "mb": sum(p.nbytes for p in ps.values()) / 1e6,
        "shortcuts": {m: p.shortcuts for m, p in ps.items()},
        "arcs": {m: p.arcs for m, p in ps.items()},
        "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": _load(),
    }
    if reuse:
        CACHE.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            pickle.dump({"prepared": ps, "figures": figures}, out)
    return figures


# --------------------------------------------------------------------------- timing


def _pairs(g: Any, n_pairs: int, seed: int) -> list[tuple[int, int]]:
    from scipy.sparse.csgraph import connected_components

    mg = g.modes["walk"]
    n = mg.csr.shape[0] - 1
    _, lab = connected_components(mg.csr[:n, :n], directed=True, connection="strong")
    main = np.flatnonzero(lab == np.argmax(np.bincount(lab)))
    rnd = random.Random(seed)
    return [tuple(int(x) for x in rnd.sample(main.tolist(), 2)) for _ in range(n_pairs)]  # type: ignore[misc]


def _nx_graph(g: Any) -> Any:
    import networkx as nx

    G = nx.Graph()
    walk_ok = g.modes["walk"].usable
    for i in np.flatnonzero(walk_ok):
        a, b = int(g.src[i]), int(g.dst[i])
        if a != b and (not G.has_edge(a, b) or G[a][b]["w"] > g.length_m[i]):
            G.add_edge(a, b, w=float(g.length_m[i]))
    return G


def box_envelope(xy: np.ndarray, a: int, b: int) -> str:
    """The pair's bbox, +25 % and at least 300 m each side, as SQL: what a pgRouting user crops
    the edges to (benchmarks/pathfinding.py uses it too)."""
    x0, x1 = sorted((xy[a, 0], xy[b, 0]))
    y0, y1 = sorted((xy[a, 1], xy[b, 1]))
    mx = max((x1 - x0) * 0.25, 300 / (111_320 * math.cos(math.radians(y0))))
    my = max((y1 - y0) * 0.25, 300 / 110_574)
    return f"st_makeenvelope({x0 - mx}, {y0 - my}, {x1 + mx}, {y1 + my}, 4326)"


def _box_sql(xy: np.ndarray, a: int, b: int) -> str:
    return f"{WALK_SQL} and geom && {box_envelope(xy, a, b)}"


def _timed(f: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def time_routes(s: Session, g: Any, pairs: list[tuple[int, int]]) -> dict[str, Any]:
    import networkx as nx

    from geo import routing as R

    xy, ids = g.node_xy, g.node_ids
    G = _nx_graph(g)
    gc.collect()
    gc.freeze()  # the reference graph's objects: not scanned by collections in timed calls
    T: dict[str, list[float]] = {
        k: [] for k in ("eng", "full", "core", "snap", "route", "along", "nx")
    }
    T.update({"pgr": [], "box": []})
    lens, cams = [], []
    q = "select max(agg_cost) from pgr_dijkstra(:q, :a, :b, directed => false)"
    rnd = random.Random(7)
    for a, b in pairs:
        pa, pb = R.Place(lon=xy[a, 0], lat=xy[a, 1]), R.Place(lon=xy[b, 0], lat=xy[b, 1])
        kw: dict[str, Any] = {"origin": pa, "destination": pb, "mode": "walk", "depart_at": DEPART}
        out: dict[str, Any] = {}

        def parts(a: int = a, b: int = b) -> None:  # the parts, through their own calls
            t = time.perf_counter()
            sa = R.snap(g, lon=xy[a, 0], lat=xy[a, 1], mode="walk", field="from")
            sb = R.snap(g, lon=xy[b, 0], lat=xy[b, 1], mode="walk", field="to")
            t1 = time.perf_counter()
            r = R.route(g, start=sa, end=sb, mode="walk")
            t2 = time.perf_counter()
            R.cameras_along(g, r)
            t3 = time.perf_counter()
            T["snap"].append(t1 - t)
            T["route"].append(t2 - t1)
            T["along"].append(t3 - t2)

        def core(pa: Any = pa, pb: Any = pb) -> None:
            r = R.route_places(s, g, origin=pa, destination=pb, mode="walk")
            R.cameras_along(g, r)

        def pgr(sql: str, a: int = a, b: int = b) -> Any:
            return s.execute(text(q), {"q": sql, "a": int(ids[a]), "b": int(ids[b])}).scalar_one()

        tasks: list[tuple[str, Callable[[], Any]]] = [
            ("pgr", partial(pgr, WALK_SQL)),
            ("box", partial(pgr, _box_sql(xy, a, b))),
            ("core", core),
            ("eng", partial(R.find_route, s, graph=g, **kw)),
            ("full", partial(R.find_route, s, **kw)),
            ("nx", partial(nx.shortest_path_length, G, a, b, weight="w")),
            ("parts", parts),
        ]
        # a new random order per pair: no call always follows the same kind of work (a wait
        # on the database leaves the next call with cold caches and an idle core, a Python
        # answer leaves it warm), so neither side is timed only in its best or worst place
        rnd.shuffle(tasks)
        for key, fn in tasks:
            t = time.perf_counter()
            out[key] = fn()
            if key != "parts":
                T[key].append(time.perf_counter() - t)
        res, ref, pg, pgb = out["eng"], out["nx"], out["pgr"], out["box"]
        lens.append((res["length_m"], ref, pg, pgb))
        cams.append(len(res["cameras_along"]))
    gc.unfreeze()
    return {"T": T, "lens": lens, "cams": cams}


def time_before_ch(s: Session, g: Any, pairs: list[tuple[int, int]]) -> tuple[float, float]:
    """``find_route`` (graph in hand) on the scipy searches that answer until the hierarchy is
    ready."""
    from geo import routing as R

    xy, out = g.node_xy, []
    R.search.USE_PREPARED = False
    try:
        for a, b in pairs:
            R._tree_cache.clear()  # cold: no cached single-source tree (small graphs)
            pa, pb = R.Place(lon=xy[a, 0], lat=xy[a, 1]), R.Place(lon=xy[b, 0], lat=xy[b, 1])
            t = time.perf_counter()
            R.find_route(s, graph=g, origin=pa, destination=pb, mode="walk", depart_at=DEPART)
            out.append(time.perf_counter() - t)
    finally:
        R.search.USE_PREPARED = True
    return _pct(out)


def time_reach(s: Session, g: Any, pairs: list[tuple[int, int]]) -> dict[str, Any]:
    from geo import routing as R

    xy, ids = g.node_xy, g.node_ids
    speeds = R.SpeedRange.for_mode("walk")
    eng, dd = [], []
    q = "select count(*) from pgr_drivingDistance(:q, :a, :d, directed => false)"
    for a, _ in pairs[:20]:

        def engine(a: int = a) -> Any:
            sa = R.snap(g, lon=xy[a, 0], lat=xy[a, 1], mode="walk", field="origin")
            return R.reachable_times(g, sa, mode="walk", speeds=speeds, max_s=600)

        eng.append(_timed(engine)[0])
        t = time.perf_counter()
        s.execute(text(q), {"q": WALK_SQL, "a": int(ids[a]), "d": WALK_M}).scalar_one()
        dd.append(time.perf_counter() - t)
    return {"reach": _pct(eng), "dd": _pct(dd)}


def time_ranking(g: Any, k: int, n: int = 200) -> dict[str, Any]:
    """One place to its ``k`` nearest cameras (the nearest-camera ranking's road distances):
    ``road_distances_m`` (radius-bounded search) against the same through the hierarchy."""
    from scipy.spatial import cKDTree

    from geo import routing as R
    from geo.routing import search

    if len(g.camera_xy) < k:
        return {}
    cams = np.array(list(g.camera_xy.values()))
    kx = 111_320 * math.cos(math.radians(float(cams[:, 1].mean())))
    tree = cKDTree(cams * [kx, 110_574])
    rnd = random.Random(3)
    pts = [
        cams[rnd.randrange(len(cams))] + [rnd.uniform(-3e-3, 3e-3) for _ in "xy"] for _ in range(n)
    ]
    asks = [[tuple(cams[i]) for i in tree.query(p * [kx, 110_574], k=k)[1]] for p in pts]
    orig = search.one_to_many
    out: dict[str, Any] = {}
    res: dict[str, list[list[float | None]]] = {}

    def through_ch(mg: Any, sources: Any, targets: Any, *, r0: float | None = None) -> Any:
        return orig(mg, sources, targets)

    for name, f in (("ball", orig), ("ch", through_ch)):
        search.one_to_many = f
        ts, got = [], []
        try:
            for p, a in zip(pts, asks, strict=True):
                t = time.perf_counter()
                got.append(R.road_distances_m(g, lon=p[0], lat=p[1], points=a))
                ts.append(time.perf_counter() - t)
        finally:
            search.one_to_many = orig
        out[name], res[name] = _pct(ts), got
    out["differ"] = sum(
        (x is None) != (y is None) or (x is not None and y is not None and abs(x - y) > 1e-6)
        for a, b in zip(res["ball"], res["ch"], strict=True)
        for x, y in zip(a, b, strict=True)
    )
    return out


def run(eng: Any, name: str, label: str, n_pairs: int, seed: int, reuse: bool) -> dict[str, Any]:
    from geo import routing as R
    from geo.routing import search

    R._cache.clear()
    with Session(eng) as s, s.begin():
        bg = search.prepare_in_background
        search.prepare_in_background = lambda g: None
        try:
            build_s, g = _timed(lambda: R.get_graph(s))
        finally:
            search.prepare_in_background = bg
        load0 = _load()
        print(f"  {label}: graph {build_s:.1f} s; preparing the hierarchy ...", flush=True)
        prep = prepare_measured(g, name, reuse)
        pairs = _pairs(g, n_pairs, seed)
        R.find_route(  # warm the JIT and the caches once
            s, graph=g, origin=R.Place(lon=g.node_xy[pairs[0][0], 0], lat=g.node_xy[pairs[0][0], 1]),
            destination=R.Place(lon=g.node_xy[pairs[0][1], 0], lat=g.node_xy[pairs[0][1], 1]),
        )  # fmt: skip
        print(f"  timing {len(pairs)} pairs (load average {_load()}) ...", flush=True)
        rt = time_routes(s, g, pairs)
        before = time_before_ch(s, g, pairs)
        reach = time_reach(s, g, pairs)
        ranking = {k: time_ranking(g, k) for k in (5, 20)}
        load1 = _load()
    lens = rt["lens"]
    agree = sum(
        1
        for e, n_, p, _ in lens
        if p is not None and abs(e - n_) <= 1e-3 * n_ + 0.05 and abs(e - p) <= 1e-3 * p + 0.05
    )
    box_wrong = sum(1 for e, _, _, pb in lens if pb is None or abs(pb - e) > 1e-3 * e + 0.05)
    T = rt["T"]
    return {
        "label": label,
        "nodes": len(g.node_ids),
        "edges": len(g.edge_ids),
        "cameras": len(g.camera_xy),
        "build_s": build_s,
        "prep": prep,
        "pairs": len(pairs),
        "agree": agree,
        "box_wrong": box_wrong,
        "mean_m": float(np.mean([x[0] for x in lens])),
        "mean_cams": float(np.mean(rt["cams"])),
        **{k: _pct(v) for k, v in T.items()},
        "before": before,
        **reach,
        "ranking": ranking,
        "load": (load0, load1),
    }


# --------------------------------------------------------------------------- report


def report(r: dict[str, Any]) -> str:
    p = r["prep"]
    per100k = 1e5 / max(r["edges"], 1)
    src = f" (cached from {p['at']}, load {p['load']}: {p['cached']})" if "cached" in p else ""
    e50, e95 = r["eng"]
    lines = [
        f"### {r['label']}: {r['nodes']:,} nodes, {r['edges']:,} edges, {r['cameras']:,} "
        f"cameras on roads (load average {r['load'][0]} -> {r['load'][1]})",
        "",
        f"graph from PostGIS {r['build_s']:.2f} s; hierarchy of both modes (walk + drive) "
        f"{p['wall']:.1f} s wall, {p['cpu']:.1f} s CPU = **{p['cpu'] * per100k:.1f} s CPU and "
        f"{p['mb'] * per100k:.1f} MB per 100k edges** ({p['mb']:.1f} MB, peak growth "
        f"{p['peak_mb']:.0f} MB; shortcuts {p['shortcuts']}){src}.",
        f"{r['pairs']} random node pairs, mean route {r['mean_m']:,.0f} m, "
        f"{r['mean_cams']:.1f} cameras along; lengths agree (engine = networkx = pgr_dijkstra "
        f"within 0.1 %): {r['agree']}/{r['pairs']}; bbox-cropped pgr_dijkstra longer or no "
        f"path: {r['box_wrong']}.",
        "",
        "| per route (walk) | p50 ms | p95 ms | `find_route` speed-up p50 / p95 "
        "| route + cameras along speed-up p50 / p95 |",
        "|---|---:|---:|---:|---:|",
    ]
    c50, c95 = r["core"]
    rows = (
        ("eng", "**engine** `find_route`: snap + route (CH) + cameras along + windows + JSON"),
        (
            "core",
            "**route + cameras along**: `route_places` (both snaps and the route in one "
            "compiled call) + `cameras_along`",
        ),
        ("full", "the same + reading the load counter (as the API calls it)"),
        ("snap", "  part: snapping both places"),
        ("route", "  part: `route` of two snapped places (CH query, pieces, geometry)"),
        ("along", "  part: `cameras_along` (CameraPass objects)"),
        ("before", "`find_route` on the scipy searches (until the hierarchy is ready)"),
        ("pgr", "pgr_dijkstra, whole table"),
        ("box", "pgr_dijkstra, edges cropped to the pair's bbox"),
        ("nx", "networkx Dijkstra"),
    )
    for key, name in rows:
        a, b = r[key]
        lines.append(
            f"| {name} | {a:.3f} | {b:.3f} | {a / e50:.1f}x / {b / e95:.1f}x "
            f"| {a / c50:.1f}x / {b / c95:.1f}x |"
        )
    r50, r95 = r["reach"]
    d50, d95 = r["dd"]
    lines += [
        "",
        "| reachable, 10 min on foot (1,167 m) | p50 ms | p95 ms | engine speed-up p50 / p95 |",
        "|---|---:|---:|---:|",
        f"| **engine** snap + `reachable_times` | {r50:.3f} | {r95:.3f} | 1.0x / 1.0x |",
        f"| pgr_drivingDistance | {d50:.3f} | {d95:.3f} | {d50 / r50:.0f}x / {d95 / r95:.0f}x |",
    ]
    for k, rk in r["ranking"].items():
        if rk:
            lines.append(
                f"\nranking, one place to its {k} nearest cameras (`road_distances_m`): bounded "
                f"search p50 / p95 {rk['ball'][0]:.3f} / {rk['ball'][1]:.3f} ms, through the "
                f"hierarchy {rk['ch'][0]:.3f} / {rk['ch'][1]:.3f} ms; distances differing: "
                f"{rk['differ']}"
            )
    return "\n".join(lines)


def summary(res: list[dict[str, Any]]) -> str:
    lines = [
        "| network | nodes / edges | CH build wall (CPU); per 100k edges CPU s, MB "
        "| route + cameras along p50 / p95 ms | vs pgr whole p50 / p95 | vs pgr bbox p50 / p95 "
        "| `find_route` answer p50 / p95 ms | vs pgr whole | vs pgr bbox "
        "| reach vs drivingDistance p50 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res:
        p, k = r["prep"], 1e5 / max(r["edges"], 1)
        e50, e95 = r["eng"]
        c50, c95 = r["core"]
        lines.append(
            f"| {r['label']} | {r['nodes']:,} / {r['edges']:,} | {p['wall']:.1f} s ({p['cpu']:.1f} s); "
            f"{p['cpu'] * k:.1f} s, {p['mb'] * k:.1f} MB | {c50:.3f} / {c95:.3f} | "
            f"{r['pgr'][0] / c50:.0f}x / {r['pgr'][1] / c95:.0f}x | "
            f"{r['box'][0] / c50:.0f}x / {r['box'][1] / c95:.0f}x | {e50:.2f} / {e95:.2f} | "
            f"{r['pgr'][0] / e50:.0f}x / {r['pgr'][1] / e95:.0f}x | "
            f"{r['box'][0] / e50:.0f}x / {r['box'][1] / e95:.0f}x | "
            f"{r['dd'][0] / r['reach'][0]:.0f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--grids", type=int, nargs="*", default=[300], help="grid sides (300: 90k)")
    ap.add_argument("--grid-cameras", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--skip-real", action="store_true", help="grids only")
    ap.add_argument("--reuse-ch", action="store_true", help="cache grids' hierarchies on disk")
    args = ap.parse_args()

    os.environ["GOLDENTIME_DATABASE_URL"] = _url()
    from geo.settings import get_settings

    get_settings.cache_clear()
    print(f"routing benchmark {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load average {_load()}", flush=True)  # fmt: skip
    import geo.pathfinding as P

    t = time.perf_counter()  # numba: load (or compile) the code before anything is timed
    P.one_to_one(P.prepare(np.array([0, 1, 1]), np.array([1]), np.array([1.0])), [(0, 0)], [(1, 0)])
    print(f"pathfinding JIT ready in {time.perf_counter() - t:.1f} s", flush=True)
    nets: list[tuple[str, Callable[[Session], str], str]] = []
    if not args.skip_real:
        nets += [("helsinki", load_helsinki, "Helsinki extract")]
        nets += [("daejeon", load_daejeon, "Daejeon arterial network")]
    for k in args.grids:

        def grid(s: Session, k: int = k) -> str:
            return load_grid(s, k, args.grid_cameras)

        nets.append((f"grid{k}", grid, f"grid {k}x{k}"))
    out = []
    for name, loader, label in nets:
        eng = ensure_network(name, loader, label)
        res = run(eng, name, label, args.pairs, args.seed, args.reuse_ch and "grid" in name)
        print(report(res) + "\n", flush=True)
        out.append(res)
        eng.dispose()
    print(summary(out))
    print(
        f"\nfinished {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {_load()}"
    )


if __name__ == "__main__":
    main()
