"""Nearest cameras at national scale: KNN on geography against brute force, and the API under load.

Builds (once, idempotently) a separate database ``goldentime_bench`` on the embedded cluster,
never the service's: the real Daejeon cameras and Yuseong accidents, plus synthetic cameras
spread like real ones over Korea (clustered around city centres with population weights, wider
suburban halos; 100k, then 1M). For each size it prints, in one run:

* nearest-5 SQL p50/p95: KNN ``<->`` on ``geom::geography`` (the GiST index ``ix_cameras_geog``),
  the full candidate query :func:`geo.nearest.nearest_cameras` sends, and the in-process
  ``nearest_cameras()`` call, against the baseline ``ORDER BY ST_Distance(geography)`` (brute
  force, on a few queries only: it scans every camera), with agreement of the top 5;
* how often plain ``<->`` on ``geometry`` (degrees) picks a different top 5;
* the API ``GET /api/cameras/nearest`` p50/p95 and requests/s under a bounded loopback load
  (served like ``goldentime serve``: api.server, one worker per core, on 127.0.0.1; a fixed
  number of requests from a few concurrent clients,
  with a bearer token from ``POST /api/auth/token`` for a bench user): ``wrk`` when installed,
  else an httpx client.

Run: ``.venv/bin/python benchmarks/nearest.py`` (``--help`` for sizes and load). The first run
spends a few minutes generating and indexing 1M cameras; later runs reuse them. ``--roads`` also
loads the real Daejeon arterial roads (once; they stay in the bench database), so that queries
near them carry ``network_distance_m`` from the in-memory road engine (issue 15).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo import embedded  # noqa: E402
from geo.nearest import brute_force_nearest, knn_candidates, nearest_cameras  # noqa: E402

BENCH_DB = "goldentime_bench"
SOURCE = "bench-synthetic"
BLOCK = (
    100_000  # synthetic cameras are generated in blocks with their own seed: 100k is a prefix of 1M
)

# (name, lat, lon, population in thousands): Korean cities, approximate 2020 census figures.
CITIES: list[tuple[str, float, float, float]] = [
    ("Seoul", 37.5665, 126.9780, 9586),
    ("Busan", 35.1796, 129.0756, 3349),
    ("Incheon", 37.4563, 126.7052, 2945),
    ("Daegu", 35.8714, 128.6014, 2418),
    ("Daejeon", 36.3504, 127.3845, 1463),
    ("Gwangju", 35.1595, 126.8526, 1450),
    ("Suwon", 37.2636, 127.0286, 1186),
    ("Ulsan", 35.5384, 129.3114, 1136),
    ("Yongin", 37.2411, 127.1776, 1074),
    ("Goyang", 37.6584, 126.8320, 1079),
    ("Changwon", 35.2280, 128.6811, 1036),
    ("Seongnam", 37.4200, 127.1267, 940),
    ("Hwaseong", 37.1995, 126.8313, 855),
    ("Cheongju", 36.6424, 127.4890, 844),
    ("Bucheon", 37.5034, 126.7660, 818),
    ("Namyangju", 37.6360, 127.2165, 713),
    ("Jeonju", 35.8242, 127.1480, 657),
    ("Cheonan", 36.8151, 127.1139, 656),
    ("Ansan", 37.3219, 126.8309, 654),
    ("Anyang", 37.3943, 126.9568, 550),
    ("Gimhae", 35.2285, 128.8894, 542),
    ("Pyeongtaek", 36.9921, 127.1129, 537),
    ("Siheung", 37.3800, 126.8029, 500),
    ("Pohang", 36.0190, 129.3435, 502),
    ("Jeju", 33.4996, 126.5312, 493),
    ("Paju", 37.7600, 126.7800, 451),
    ("Gimpo", 37.6153, 126.7156, 473),
    ("Uijeongbu", 37.7381, 127.0337, 463),
    ("Gumi", 36.1195, 128.3446, 417),
    ("Sejong", 36.4800, 127.2890, 355),
    ("Wonju", 37.3422, 127.9202, 355),
    ("Jinju", 35.1800, 128.1076, 349),
    ("Asan", 36.7898, 127.0018, 314),
    ("Iksan", 35.9483, 126.9577, 286),
    ("Chuncheon", 37.8813, 127.7298, 281),
    ("Suncheon", 34.9506, 127.4872, 279),
    ("Yeosu", 34.7604, 127.6622, 279),
    ("Gyeongju", 35.8562, 129.2247, 254),
    ("Gunsan", 35.9676, 126.7366, 267),
    ("Mokpo", 34.8118, 126.3922, 223),
    ("Gangneung", 37.7519, 128.8761, 213),
    ("Chungju", 36.9910, 127.9259, 209),
    ("Andong", 36.5684, 128.7294, 158),
    ("Seosan", 36.7848, 126.4503, 176),
    ("Tongyeong", 34.8544, 128.4331, 126),
    ("Sokcho", 38.2070, 128.5918, 82),
]
KOREA_BOX = (124.6, 33.1, 131.9, 38.6)  # lon/lat clamp
PURPOSES = (
    ("crime_prevention", 0.70),
    ("traffic", 0.15),
    ("child_protection", 0.10),
    ("other", 0.05),
)


# --- data --------------------------------------------------------------------------------------


def bench_url() -> str:
    return embedded.cluster().url(db_name=BENCH_DB)


def conninfo(url: str) -> str:
    from sqlalchemy.engine import make_url

    return embedded._conninfo(make_url(url), BENCH_DB)


def synthetic_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` lon/lat points clustered like cameras: a city by population, then a normal offset
    whose spread grows with the city's size (70 % core, 30 % suburban halo three times wider)."""
    rng = np.random.default_rng(seed)
    pop = np.array([c[3] for c in CITIES], dtype=float)
    city = rng.choice(len(CITIES), size=n, p=pop / pop.sum())
    sigma_km = 1.5 + 3.0 * np.sqrt(pop[city] / 1000.0)
    sigma_km = np.where(rng.random(n) < 0.3, sigma_km * 3.0, sigma_km)
    lat0 = np.array([c[1] for c in CITIES])[city]
    lon0 = np.array([c[2] for c in CITIES])[city]
    dy = rng.normal(0.0, 1.0, n) * sigma_km
    dx = rng.normal(0.0, 1.0, n) * sigma_km
    lat = np.clip(lat0 + dy / 111.32, KOREA_BOX[1], KOREA_BOX[3])
    lon = np.clip(lon0 + dx / (111.32 * np.cos(np.radians(lat0))), KOREA_BOX[0], KOREA_BOX[2])
    return np.round(lon, 7), np.round(lat, 7)


def _load_real(url: str) -> None:
    """The real Daejeon cameras and Yuseong accidents (skipped when already loaded)."""
    from geo.db import session_scope
    from geo.load.cameras import load_cameras
    from geo.load.incidents import load_incidents

    data = ROOT / "data"
    with session_scope(url) as s:
        from sqlalchemy import text

        have = s.execute(text("select count(*) from cameras where source <> :s"), {"s": SOURCE})
        if have.scalar_one() == 0:
            for f in ("cctv_daejeon_2015_cp949.csv", "traffic_cctv_daejeon.csv"):
                load_cameras(s, path=data / "daejeon-cctv" / f, refresh_views=False)
        if s.execute(text("select count(*) from incidents")).scalar_one() == 0:
            load_incidents(
                s, path=data / "daejeon-incidents" / "traffic_accidents_yuseong_2017_2021.csv"
            )


def _load_roads(url: str, *, load: bool) -> int:
    """The real Daejeon arterial roads (when ``load``, unless loaded); returns the edge count."""
    from sqlalchemy import text

    from geo.db import session_scope
    from geo.load.lines import load_roads_any

    with session_scope(url) as s:
        if load and s.execute(text("select count(*) from road_edges")).scalar_one() == 0:
            path = ROOT / "data" / "daejeon-osm" / "daejeon_arterial_osm.geojson"
            load_roads_any(s, path=path, progress=False)
        return int(s.execute(text("select count(*) from road_edges")).scalar_one())


def _checkpoint(conn: psycopg.Connection) -> None:
    """Flush the bulk change now, not during the timed runs (needs superuser or pg_checkpoint)."""
    with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
        conn.execute("checkpoint")


def ensure_synthetic(url: str, total: int) -> float:
    """Make the bench DB hold exactly ``total`` synthetic cameras; returns seconds spent.

    Rows go in by COPY with the two GiST indexes dropped and rebuilt afterwards (the same
    definitions as migration 0001), then ANALYZE.
    """
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        have = conn.execute("select count(*) from cameras where source = %s", (SOURCE,)).fetchone()[
            0
        ]  # type: ignore[index]
        t0 = time.perf_counter()
        if have > total:  # shrink back (a previous run went to a larger size)
            conn.execute(
                "delete from cameras where source = %s and substr(external_id, 2)::int >= %s",
                (SOURCE, total),
            )
            conn.execute("vacuum analyze cameras")
            conn.execute("reindex table cameras")
            _checkpoint(conn)
            print(f"  removed {have - total:,} synthetic cameras", flush=True)
            return time.perf_counter() - t0
        if have == total:
            return 0.0
        conn.execute("drop index if exists idx_cameras_geom")
        conn.execute("drop index if exists ix_cameras_geog")
        rng_p = [p for p, _ in PURPOSES]
        w_p = np.array([w for _, w in PURPOSES])
        with (
            conn.cursor() as cur,
            cur.copy(
                "copy cameras (source, external_id, purpose, geom, heading_deg, fov_deg, ptz,"
                " camera_type) from stdin"
            ) as cp,
        ):
            for b in range(have // BLOCK, (total + BLOCK - 1) // BLOCK):
                lo = max(have, b * BLOCK)
                hi = min(total, (b + 1) * BLOCK)
                lon, lat = synthetic_points(BLOCK, seed=1000 + b)
                rng = np.random.default_rng(5000 + b)
                purpose = rng.choice(len(rng_p), size=BLOCK, p=w_p)
                kind = rng.random(
                    BLOCK
                )  # 60 % direction unknown, 30 % fixed with heading, 10 % PTZ
                heading = np.round(rng.uniform(0, 360, BLOCK), 1) % 360
                for i in range(lo - b * BLOCK, hi - b * BLOCK):
                    k = kind[i]
                    ptz = k >= 0.9
                    known = k >= 0.6
                    cp.write_row(
                        (
                            SOURCE,
                            f"s{b * BLOCK + i}",
                            rng_p[purpose[i]],
                            f"SRID=4326;POINT({lon[i]} {lat[i]})",
                            float(heading[i]) if known else None,
                            60.0 if known else None,
                            ptz,
                            "ptz" if ptz else ("fixed" if known else None),
                        )
                    )
        print(
            f"  inserted {total - have:,} synthetic cameras; building GiST indexes ...", flush=True
        )
        conn.execute("create index idx_cameras_geom on cameras using gist (geom)")
        conn.execute("create index ix_cameras_geog on cameras using gist ((geom::geography))")
        conn.execute("analyze cameras")
        _checkpoint(conn)
        return time.perf_counter() - t0


def query_points(url: str, n: int) -> list[tuple[float, float]]:
    """Half real Yuseong accident locations, half points drawn like the cameras (lat, lon)."""
    with psycopg.connect(conninfo(url)) as conn:
        real = conn.execute("select st_y(geom), st_x(geom) from incidents order by id").fetchall()
    step = max(1, len(real) // (n // 2))
    pts = [(float(a), float(b)) for a, b in real[::step][: n // 2]]
    lon, lat = synthetic_points(n - len(pts), seed=424242)
    pts += [(float(a), float(b)) for a, b in zip(lat, lon, strict=True)]
    return pts


# --- SQL ---------------------------------------------------------------------------------------

KNN5 = (
    "select id from cameras order by geom::geography <-> "
    "st_setsrid(st_makepoint(%(lon)s, %(lat)s), 4326)::geography limit 5"
)
#: What geo.nearest sends for an exact nearest 5: the geometry index in degrees, over-fetching by
#: 1.5 / cos(lat); Python then re-measures on the ellipsoid and checks the bound (rarely refetches).
KNN5_DEGREE = (
    "select id, st_x(geom), st_y(geom), geom <-> st_setsrid(st_makepoint(%(lon)s, %(lat)s), 4326)"
    " as d from cameras order by d limit ceil(7.5 / cos(radians(%(lat)s)))::int"
)
KNN5_GEOMETRY = "select id from cameras order by geom <-> st_setsrid(st_makepoint(%(lon)s, %(lat)s), 4326) limit 5"
BRUTE5 = (
    "select id, st_distance(geom::geography, st_setsrid(st_makepoint(%(lon)s, %(lat)s), 4326)"
    "::geography) as d from cameras order by d, id limit 5"
)


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def time_sql(
    conn: psycopg.Connection, sql: str, points: list[tuple[float, float]], *, warm: int = 10
) -> list[float]:
    """Wall-clock milliseconds per query over the Unix socket (prepared after 5 runs, like the app)."""
    for lat, lon in points[:warm]:
        conn.execute(sql, {"lat": lat, "lon": lon}).fetchall()
    out = []
    for lat, lon in points:
        t = time.perf_counter()
        conn.execute(sql, {"lat": lat, "lon": lon}).fetchall()
        out.append((time.perf_counter() - t) * 1000)
    return out


def server_ms(conn: psycopg.Connection, sql: str, points: list[tuple[float, float]]) -> list[float]:
    """Planning + execution time inside PostgreSQL (EXPLAIN ANALYZE, timing off): the query's own
    cost, without the client round trip and its scheduling on a busy machine."""
    out = []
    for lat, lon in points:
        plan = conn.execute(
            "explain (analyze, timing off, format json) " + sql, {"lat": lat, "lon": lon}
        ).fetchone()[0][0]  # type: ignore[index]
        out.append(float(plan["Planning Time"]) + float(plan["Execution Time"]))
    return out


def _top5_agrees(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> bool:
    if len(got) != len(want):
        return False
    for (gi, gd), (wi, wd) in zip(got, want, strict=True):
        if abs(gd - wd) > 0.01:
            return False
        if gi != wi and not any(i == gi and abs(d - wd) <= 0.01 for i, d in want + got):
            return False
    return True


#: The road distances before issue 15, kept as the baseline: both places snap to their nearest
#: road node (300 m), one pgr_dijkstra per request on edges cropped to the area plus 1 km.
_PGR_SNAP = """
select p.i, s.id as node, s.d
from unnest(cast(%(lons)s as double precision[]), cast(%(lats)s as double precision[]))
     with ordinality as p(lon, lat, i)
cross join lateral (
    select n.id, st_distance(n.geom::geography,
                             st_setsrid(st_makepoint(p.lon, p.lat), 4326)::geography) as d
    from road_nodes n
    where n.geom && st_expand(st_setsrid(st_makepoint(p.lon, p.lat), 4326), %(sd)s)
    order by n.geom <-> st_setsrid(st_makepoint(p.lon, p.lat), 4326) limit 1) s"""


def pgr_road_distances(conn: psycopg.Connection, lat: float, lon: float, cams: list[Any]) -> int:
    """BASELINE: the pre-issue-15 ``network_distances`` (two queries); returns answers found."""
    from geo.routing import deg_box

    lons = [lon, *(float(c["lon"]) for c in cams)]
    lats = [lat, *(float(c["lat"]) for c in cams)]
    sd = 300.0 / (111_320.0 * max(np.cos(np.radians(lat)), 0.01))
    rows = conn.execute(_PGR_SNAP, {"lons": lons, "lats": lats, "sd": sd}).fetchall()
    node = {int(i) - 1: int(n) for i, n, d in rows if d <= 300.0}
    ends = sorted({n for j, n in node.items() if j > 0 and n != node.get(0)})
    if 0 not in node or not ends:
        return 0
    x0, y0, _, _ = deg_box(min(lons), min(lats), 1000.0)
    _, _, x1, y1 = deg_box(max(lons), max(lats), 1000.0)
    sql = (
        "select id, source, target, length_m as cost, length_m as reverse_cost from road_edges "
        f"where geom && st_makeenvelope({x0!r}, {y0!r}, {x1!r}, {y1!r}, 4326)"
    )
    got = conn.execute(
        "select end_vid, agg_cost from pgr_dijkstra(%s, %s, %s::bigint[], directed => false) "
        "where edge = -1",
        (sql, node[0], ends),
    ).fetchall()
    return len(got)


def road_distance_bench(url: str, points: list[tuple[float, float]]) -> dict[str, Any]:
    """Road distances for the ranked cameras near roads: the engine against the pgr baseline."""
    from geo.db import new_session
    from geo.nearest import camera_road_distances, knn_candidates
    from geo.routing import get_graph

    s = new_session(url)
    try:
        g = get_graph(s)
        near = []
        for lat, lon in points:
            cams, _, has_r = knn_candidates(s, lat=lat, lon=lon, n=5)
            if has_r and cams:
                near.append((lat, lon, cams))
        for lat, lon, cams in near[:50]:  # warm: snapped cameras memoised, like a server's
            camera_road_distances(g, lat=lat, lon=lon, cameras=cams)
        eng, pgr = [], []
        with psycopg.connect(conninfo(url), autocommit=True) as conn:
            for lat, lon, cams in near:
                t = time.perf_counter()
                camera_road_distances(g, lat=lat, lon=lon, cameras=cams)
                eng.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                pgr_road_distances(conn, lat, lon, cams)
                pgr.append((time.perf_counter() - t) * 1000)
    finally:
        s.close()
    return {"engine_ms": eng, "pgr_ms": pgr, "n": len(near)}


def sql_bench(url: str, points: list[tuple[float, float]], n_brute: int) -> dict[str, Any]:
    """Nearest-5 SQL timings, the in-process function, agreement with brute force."""
    from geo.db import new_session

    res: dict[str, Any] = {}
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        res["knn_ms"] = time_sql(conn, KNN5, points)
        res["knn_server_ms"] = server_ms(conn, KNN5, points[:300])
        res["knn_deg_ms"] = time_sql(conn, KNN5_DEGREE, points)
        res["knn_deg_server_ms"] = server_ms(conn, KNN5_DEGREE, points[:300])
        brute_pts = points[:: max(1, len(points) // n_brute)][:n_brute]
        res["brute_ms"] = time_sql(conn, BRUTE5, brute_pts, warm=1)
        res["brute_server_ms"] = server_ms(conn, BRUTE5, brute_pts[:2])
        # geometry KNN (degrees) against the geodesic answer
        geo_ids = [
            [r[0] for r in conn.execute(KNN5_GEOMETRY, {"lat": a, "lon": b}).fetchall()]
            for a, b in points
        ]
    import geo.nearest as nearest_mod

    fallbacks: list[bool] = []
    bound = nearest_mod._degree_fetch_is_complete

    def counted(**kw: Any) -> bool:
        ok = bound(**kw)
        fallbacks.append(not ok)
        return ok

    nearest_mod._degree_fetch_is_complete = counted  # count how often the geography KNN answers
    s = new_session(url)
    try:
        t_cand, t_fn, differs = [], [], 0
        for lat, lon in points[:20]:
            nearest_cameras(s, lat=lat, lon=lon, k=5)
        t_exact5 = []
        for lat, lon in points:
            t = time.perf_counter()
            knn_candidates(s, lat=lat, lon=lon, n=5)
            t_exact5.append((time.perf_counter() - t) * 1000)
        for (lat, lon), gids in zip(points, geo_ids, strict=True):
            t = time.perf_counter()
            cams, _, _ = knn_candidates(s, lat=lat, lon=lon, n=20)
            t_cand.append((time.perf_counter() - t) * 1000)
            if set(gids) != {c["id"] for c in cams[:5]}:
                differs += 1
        with_roads = 0
        for lat, lon in points:
            t = time.perf_counter()
            ranked = nearest_cameras(s, lat=lat, lon=lon, k=5)
            t_fn.append((time.perf_counter() - t) * 1000)
            with_roads += any(c["network_distance_m"] is not None for c in ranked)
        agree = 0
        for lat, lon in brute_pts:
            cams, _, _ = knn_candidates(s, lat=lat, lon=lon, n=20)
            got = [(int(c["id"]), float(c["distance_m"])) for c in cams[:5]]
            brute = brute_force_nearest(s, lat=lat, lon=lon, k=6)
            want = [(int(b["id"]), float(b["distance_m"])) for b in brute]
            if abs(want[4][1] - want[5][1]) <= 0.01 and got[4][0] == want[5][0]:
                want[4], want[5] = want[5], want[4]
            agree += _top5_agrees(got, want[:5])
    finally:
        s.close()
        nearest_mod._degree_fetch_is_complete = bound
    res.update(
        fallbacks=sum(fallbacks),
        checks=len(fallbacks),
        exact5_ms=t_exact5,
        candidates_ms=t_cand,
        function_ms=t_fn,
        with_roads=with_roads,
        geometry_differs=differs,
        agree=agree,
        n_brute=len(brute_pts),
        n=len(points),
    )
    return res


# --- API ---------------------------------------------------------------------------------------


def _free_port() -> int:
    for port in range(8100 + os.getpid() % 50, 8200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8100-8199")


def _bench_token(url: str, base: str) -> str:
    """Create a bench user in the bench DB (geo code) and log in through the API."""
    import httpx

    from geo.access.users import create_user
    from geo.db import session_scope

    name = f"bench-{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    with session_scope(url) as s:
        create_user(
            s,
            username=name,
            password=password,
            role="police",
            agency="Benchmark",
            cidrs=["127.0.0.1/32"],
        )
    r = httpx.post(f"{base}/api/auth/token", data={"username": name, "password": password})
    r.raise_for_status()
    return str(r.json()["access_token"])


WRK_LUA = """
local paths = {%(paths)s}
local limit = %(per_thread)d
local i = 0
local n = 0
function init(args)
  i = math.random(#paths)
end
function request()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
function response(status, headers, body)
  n = n + 1
  if n >= limit then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p95_us": %%d, '
    .. '"p99_us": %%d, "non2xx": %%d, "errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def _run_wrk(
    base: str, paths: list[str], token: str, threads: int, conc: int, secs: int, cap: int
) -> dict[str, Any]:
    lua = WRK_LUA % {
        "paths": ", ".join(json.dumps(p) for p in paths),
        "per_thread": max(1, cap // threads),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
        script = f.name
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{conc}",
                f"-d{secs}s",
                "--timeout",
                "10s",
                "-s",
                script,
                "-H",
                f"Authorization: Bearer {token}",
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script)
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    return dict(json.loads(line[len("WRKJSON ") :]))


def _load_wrk(base: str, paths: list[str], token: str, total: int, conc: int) -> dict[str, Any]:
    """About ``total`` requests: a 2 s calibration run sets the duration of the measured run.

    (wrk runs for a duration; a per-thread cap of 1.5x ``total`` bounds the count if the server
    turns out faster than calibrated.)
    """
    threads = min(2, conc)
    cal = _run_wrk(base, paths, token, threads, conc, 2, 10**9)
    rps0 = cal["requests"] / 2.0
    secs = int(min(60, max(2, round(total / max(rps0, 1.0)))))
    d = _run_wrk(base, paths, token, threads, conc, secs, int(1.5 * total))
    return {
        "requests": d["requests"],
        "rps": d["requests"] / max(d["duration_us"] / 1e6, 1e-9),  # wrk's own run time
        "p50_ms": d["p50_us"] / 1000,
        "p95_ms": d["p95_us"] / 1000,
        "p99_ms": d["p99_us"] / 1000,
        "non2xx": d["non2xx"],
        "errors": d["errors"],
        "client": f"wrk -t{threads} -c{conc} -d{secs}s",
        "all_requests": cal["requests"] + d["requests"],  # calibration included, for CPU/request
    }


def _load_httpx(base: str, paths: list[str], token: str, total: int, conc: int) -> dict[str, Any]:
    import asyncio

    import httpx

    lat_ms: list[float] = []
    bad = 0

    async def worker(wid: int, client: httpx.AsyncClient) -> None:
        nonlocal bad
        for j in range(wid, total, conc):
            t = time.perf_counter()
            r = await client.get(paths[j % len(paths)])
            lat_ms.append((time.perf_counter() - t) * 1000)
            bad += r.status_code != 200

    async def run() -> float:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers) as client:
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(w, client) for w in range(conc)))
            return time.perf_counter() - t0

    dur = asyncio.run(run())
    return {
        "requests": len(lat_ms),
        "rps": len(lat_ms) / dur,
        "p50_ms": pct(lat_ms, 50),
        "p95_ms": pct(lat_ms, 95),
        "p99_ms": pct(lat_ms, 99),
        "non2xx": bad,
        "errors": 0,
        "client": "httpx",
    }


def noauth_app() -> Any:
    """The app with the token check overridden: the API baseline without authentication cost."""
    from api.deps import token_claims
    from api.main import create_app

    app = create_app()
    app.dependency_overrides[token_claims] = lambda: {"sub": "bench", "uid": 0, "role": "police"}
    return app


def wait_up(base: str, proc: subprocess.Popen[Any], *, timeout_s: float, label: str) -> None:
    """Wait until the server at ``base`` answers ``GET /`` with 200; RuntimeError naming
    ``label`` if it exits or ``timeout_s`` passes first."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{base}/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{label}: the server did not come up")
        time.sleep(0.2)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children (the worker processes)."""
    total = 0.0
    for d in Path("/proc").glob("[0-9]*"):
        try:
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(d.name) == pid or int(stat[1]) == pid:  # stat[1] is the parent pid
            total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


#: (label, uvicorn app, factory?, needs a token, which paths, worker processes; 0 = per core)
API_VARIANTS = (
    ("nearest k=5, bearer token (the service)", "api.main:app", False, True, "nearest", 0),
    ("nearest k=5, bearer token, 1 worker", "api.main:app", False, True, "nearest", 1),
    (
        "BASELINE nearest k=5, token check overridden",
        "benchmarks.nearest:noauth_app",
        True,
        False,
        "nearest",
        0,
    ),
    ("BASELINE GET / static page (framework floor)", "api.main:app", False, False, "index", 0),
)


def api_bench(
    url: str, points: list[tuple[float, float]], total: int, conc: int, rounds: int = 3
) -> list[dict[str, Any]]:
    """For each of :data:`API_VARIANTS`: serve the app on 127.0.0.1 against the bench DB the way
    ``goldentime serve`` does (:mod:`api.server`, one worker per core unless the variant says 1),
    log in when needed and warm up; then ``rounds`` rounds, each loading every variant in turn
    with about ``total`` requests (interleaved, so a passing disturbance on the shared machine
    does not land on one variant only). The median round by requests/s is reported, with all
    rounds' figures. Idle servers wait their turn."""
    import httpx

    from api.server import resolve_workers

    nearest_paths = [f"/api/cameras/nearest?lat={a:.6f}&lon={b:.6f}&k=5" for a, b in points]
    servers: list[dict[str, Any]] = []
    try:
        for label, app, factory, auth, which, workers in API_VARIANTS:
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            env = dict(os.environ, GOLDENTIME_DATABASE_URL=url)
            env.pop("DATABASE_URL", None)
            n_workers = resolve_workers(workers)
            cmd = [sys.executable, "-m", "api.server", app, "--host", "127.0.0.1"]
            cmd += ["--port", str(port), "--workers", str(n_workers)]
            cmd += ["--log-level", "warning", "--no-access-log"]
            cmd += ["--factory"] if factory else []
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
            servers.append(
                {"label": label, "proc": proc, "base": base, "auth": auth, "workers": n_workers}
            )
            servers[-1]["paths"] = nearest_paths if which == "nearest" else ["/"]
            wait_up(base, proc, timeout_s=60, label="uvicorn")
        for sv in servers:
            sv["token"] = _bench_token(url, sv["base"]) if sv["auth"] else "none"
            headers = {"Authorization": f"Bearer {sv['token']}"}
            with httpx.Client(base_url=sv["base"], headers=headers) as c:
                for p in sv["paths"][:200]:  # warm-up
                    c.get(p).raise_for_status()
            sv["runs"] = []
        for _ in range(rounds):
            for sv in servers:
                cpu0 = _tree_cpu_s(sv["proc"].pid)
                if shutil.which("wrk"):
                    r = _load_wrk(sv["base"], sv["paths"], sv["token"], total, conc)
                else:
                    r = _load_httpx(sv["base"], sv["paths"], sv["token"], total, conc)
                n_all = r.get("all_requests", r["requests"])
                cpu = _tree_cpu_s(sv["proc"].pid) - cpu0
                r["server_cpu_ms_per_req"] = cpu * 1000 / max(1, n_all)
                sv["runs"].append(r)
    finally:
        for sv in servers:
            sv["proc"].terminate()
            try:
                sv["proc"].wait(10)
            except subprocess.TimeoutExpired:
                sv["proc"].kill()
    out = []
    for sv in servers:
        runs = sorted(sv["runs"], key=lambda x: x["rps"])
        r = runs[len(runs) // 2]
        r["rounds_rps"] = [round(x["rps"]) for x in sv["runs"]]
        r["label"] = sv["label"]
        r["workers"] = sv["workers"]
        out.append(r)
    return out


# --- report ------------------------------------------------------------------------------------


def _row(name: str, xs: list[float]) -> str:
    return f"    {name:<44} p50 {pct(xs, 50):9.3f} ms   p95 {pct(xs, 95):9.3f} ms   (n={len(xs)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000", help="synthetic camera counts")
    ap.add_argument("--queries", type=int, default=1000, help="query points per size")
    ap.add_argument("--brute", default="30,5", help="brute-force queries per size")
    ap.add_argument("--api-requests", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--api-rounds", type=int, default=3, help="load runs per API line (median)")
    ap.add_argument("--api-sizes", default="100000,1000000", help="sizes to load the API at")
    ap.add_argument(
        "--roads", action="store_true", help="load the Daejeon arterial roads (network distances)"
    )
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    brutes = [int(x) for x in args.brute.split(",")]
    brutes += [brutes[-1]] * (len(sizes) - len(brutes))
    api_sizes = {int(x) for x in args.api_sizes.split(",") if x}

    url = bench_url()
    embedded.start()
    from geo.schema import migrate

    migrate(url)
    _load_real(url)
    n_edges = _load_roads(url, load=args.roads)
    points = query_points(url, args.queries)
    print(
        f"nearest cameras benchmark  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "
        f"{platform.node()} {os.cpu_count()} cores (shared), Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    results = []
    for size, nb in zip(sizes, brutes, strict=True):
        spent = ensure_synthetic(url, size)
        with psycopg.connect(conninfo(url)) as conn:
            total_cams = conn.execute("select count(*) from cameras").fetchone()[0]  # type: ignore[index]
        print(
            f"\n== {size:,} synthetic + real Daejeon = {total_cams:,} cameras"
            + (f" (generated and indexed in {spent:.0f} s)" if spent else "")
        )
        r = sql_bench(url, points, nb)
        print(_row("KNN <-> on geography, nearest 5 (SQL)", r["knn_ms"]))
        print(_row("  the same, time inside PostgreSQL", r["knn_server_ms"]))
        print(_row("KNN on geometry (degrees), 1.5 x 5/cos(lat)", r["knn_deg_ms"]))
        print(_row("  the same, time inside PostgreSQL", r["knn_deg_server_ms"]))
        print(_row("exact nearest 5: that + ellipsoid re-check", r["exact5_ms"]))
        print(_row("nearest_cameras() candidate query (20+flags)", r["candidates_ms"]))
        print(
            f"      (exact degree KNN; the geography KNN answered {r['fallbacks']} of "
            f"{r['checks']} candidate fetches)"
        )
        print(_row("nearest_cameras() in-process, full ranking", r["function_ms"]))
        print(
            f"      ({r['with_roads']}/{r['n']} answers carry road distances; "
            f"{n_edges:,} road edges in the bench database)"
        )
        if n_edges:
            rd = road_distance_bench(url, points)
            print(_row("road distances, in-memory engine (k=5)", rd["engine_ms"]))
            print(_row("BASELINE pgr_dijkstra per request (old)", rd["pgr_ms"]))
        print(_row("BASELINE brute force ORDER BY ST_Distance", r["brute_ms"]))
        print(_row("  the same, time inside PostgreSQL", r["brute_server_ms"]))
        speed = pct(r["brute_ms"], 50) / pct(r["knn_ms"], 50)
        print(
            f"    KNN is {speed:,.0f}x faster at p50; top 5 agree with brute force in "
            f"{r['agree']}/{r['n_brute']} queries (ids with ties, distances within 1 cm)"
        )
        print(
            f"    <-> on geometry (degrees) picks a different top-5 set in "
            f"{r['geometry_differs']}/{r['n']} queries ({100 * r['geometry_differs'] / r['n']:.0f} %)"
        )
        print(f"    (load average now {os.getloadavg()[0]:.1f})")
        a = None
        if size in api_sizes and args.api_requests > 0:
            a = api_bench(url, points, args.api_requests, args.concurrency, args.api_rounds)
            print(
                f"    API on 127.0.0.1 (api.server, workers per line), {args.concurrency} "
                f"connections, about {args.api_requests:,} requests per round, median of "
                f"{args.api_rounds} rounds (all rounds' req/s in brackets):"
            )
            for v in a:
                print(
                    f"      {v['label']:<46} x{v['workers']} p50 {v['p50_ms']:6.2f} ms  p95 {v['p95_ms']:6.2f} ms"
                    f"  {v['rps']:6,.0f} req/s  server CPU {v['server_cpu_ms_per_req']:.2f} ms/req"
                    f"  ({v['requests']:,} req, non-2xx {v['non2xx']}, errors {v['errors']},"
                    f" {v['client']}) {v['rounds_rps']}"
                )
        results.append(
            {
                "size": size,
                "cameras": total_cams,
                "sql": {
                    k: (statistics.median(v) if isinstance(v, list) else v) for k, v in r.items()
                },
                "api": a,
            }
        )
    print("\nJSON " + json.dumps(results))


if __name__ == "__main__":
    main()
