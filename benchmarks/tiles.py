"""Tiles and national scale (issue 14): a 1M-row standard file through COPY, tiles, features paging.

Runs against its own database ``goldentime_bench_tiles`` on the embedded cluster (created and
migrated on first use), never the service's. In one run:

1. **Load**: a national standard-data file of ``--rows`` rows (default 1,000,000) generated from
   the real Daejeon rows with jittered positions over Korean city centres and a known number of bad
   rows (``benchmarks/gen_national.py``, written to a temp dir, never shipped) goes into an empty
   ``cameras`` table through :func:`geo.load.bulk.load_cameras_bulk` (what ``goldentime load
   cameras`` runs); then the same file again (idempotence: nothing inserted or updated). Wall
   time, this process's CPU and the database backend's CPU (``/proc``), and the report checked
   against the generator's expected rejects. Fields of view (``camera_views``) are measured on one
   chunk of :func:`geo.load.bulk.refresh_missing_views` and extrapolated (they are computed after
   the load commits).
2. **Tiles** of the cameras collection at zooms 6, 10, 14, 16: the 3x3 tiles around each real city
   centre, p50/p95 of :func:`geo.tiles.tile` (in-process, warm; the first call's index build shown
   apart), and over HTTP for the centre tiles (FastAPI TestClient with the app's own
   dependencies, and a real server, ``python -m api.server`` on port 8157); against the
   **baseline** in the same run: pg_tileserv's plain table query (``ST_AsMVT`` of
   ``ST_AsMVTGeom`` of every row in the tile envelope, no clustering) on the same table.
3. **Features paging**: ``/ogc/collections/cameras/items`` with ``bbox`` around Seoul and
   ``limit=1000``, following ``next`` links: items/s; and one page at a deep offset.

tipg is not run: the embedded cluster listens on a Unix socket only, which tipg's settings refuse
(docs/benchmarks.md); pg_tileserv's SQL is the baseline instead.

Run: ``.venv/bin/python -u benchmarks/tiles.py [--rows 1000000] [--file F] [--skip-load]``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo import embedded  # noqa: E402

BENCH_DB = "goldentime_bench_tiles"
ZOOMS = (6, 10, 14, 16)
#: Real city centres (lon, lat).
CENTRES = {
    "Seoul": (126.9780, 37.5665),
    "Busan": (129.0756, 35.1796),
    "Daegu": (128.6014, 35.8714),
    "Incheon": (126.7052, 37.4563),
    "Gwangju": (126.8526, 35.1595),
    "Daejeon": (127.3845, 36.3504),
    "Ulsan": (129.3114, 35.5384),
    "Suwon": (127.0286, 37.2636),
}
SEOUL_BBOX = (126.90, 37.50, 127.06, 37.62)
#: pg_tileserv's query for a table layer (its defaults: extent 4096, buffer 256, clip).
BASELINE_SQL = """
with b as (select st_tileenvelope(%(z)s, %(x)s, %(y)s) as env),
mvtgeom as (
  select st_asmvtgeom(st_transform(t.geom, 3857), b.env, 4096, 256, true) as geom,
         t.id, t.purpose, t.camera_count
  from cameras t, b
  where t.geom && st_transform(b.env, 4326)
)
select st_asmvt(mvtgeom.*, 'cameras', 4096, 'geom') from mvtgeom
"""


def pct(xs: list[float], q: float) -> float:
    return (
        float(statistics.quantiles(xs, n=100, method="inclusive")[q - 1]) if len(xs) > 1 else xs[0]
    )


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def tiles_around(z: int) -> list[tuple[str, int, int, int]]:
    out = []
    for city, (lon, lat) in CENTRES.items():
        cx, cy = tile_of(lon, lat, z)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                out.append((city, z, cx + dx, cy + dy))
    return out


def backend_cpu_s(conn: Any) -> float:
    """CPU seconds used so far by the backend serving ``conn`` (same machine: /proc)."""
    pid = conn.execute("select pg_backend_pid()").fetchone()[0]
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- 1. load ----------------------------------------------------------------------------------


def _timed_load(url: str, path: Path) -> tuple[Any, dict[str, float]]:
    from geo.db import session_scope
    from geo.load.bulk import load_cameras_bulk

    tm: dict[str, float] = {}
    with session_scope(url) as s:
        raw = s.connection().connection.dbapi_connection
        b0, c0, t0 = backend_cpu_s(raw), time.process_time(), time.perf_counter()
        rep = load_cameras_bulk(s, path=path, refresh_views=False, timings=tm)
        b1 = backend_cpu_s(raw)
    tm |= {
        "wall_s": time.perf_counter() - t0,
        "python_cpu_s": time.process_time() - c0,
        "db_cpu_s": b1 - b0,
    }
    return rep, tm


def bench_load(url: str, path: Path, expected: dict[str, Any] | None) -> dict[str, Any]:
    from geo.db import session_scope
    from geo.load.bulk import missing_views, refresh_missing_views

    with psycopg.connect(embedded._conninfo(_u(url), BENCH_DB), autocommit=True) as conn:
        conn.execute("truncate cameras cascade")
        with contextlib.suppress(psycopg.errors.UndefinedTable):
            conn.execute("truncate camera_sources")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("checkpoint")
    first, t1 = _timed_load(url, path)
    again, t2 = _timed_load(url, path)
    ok = (again.inserted, again.updated) == (0, 0) and again.rejects == first.rejects
    if expected is not None:
        got = {}
        for r in first.rejects:
            kind = next(k for k in expected["rejects"] if r.reason.startswith(k))
            got[kind] = got.get(kind, 0) + 1
        ok = ok and got == expected["rejects"] and first.inserted == expected["cameras"]
    with session_scope(url) as s:
        n_missing = missing_views(s)
        t0 = time.perf_counter()
        done = refresh_missing_views(s, limit=20_000)
        views_s = time.perf_counter() - t0
        s.rollback()
    return {
        "first": first,
        "first_t": t1,
        "again": again,
        "again_t": t2,
        "report_ok": ok,
        "views_per_camera_ms": 1000 * views_s / max(done, 1),
        "views_missing": n_missing,
    }


def _u(url: str) -> Any:
    from sqlalchemy.engine import make_url

    return make_url(url)


# --- 2. tiles ---------------------------------------------------------------------------------


def bench_tiles(url: str, rounds: int) -> list[dict[str, Any]]:
    from geo.db import new_session
    from geo.tiles import tile

    out = []
    s = new_session(url)
    conn = psycopg.connect(embedded._conninfo(_u(url), BENCH_DB), autocommit=True)
    try:
        t0 = time.perf_counter()
        tile(s, collection="cameras", z=6, x=54, y=25, role="police")  # builds the index
        cold_ms = 1000 * (time.perf_counter() - t0)
        for z in ZOOMS:
            ours, base, sizes, bsizes = [], [], [], []
            for _ in range(rounds):
                for _, tz, tx, ty in tiles_around(z):
                    t0 = time.perf_counter()
                    body = tile(s, collection="cameras", z=tz, x=tx, y=ty, role="police")
                    ours.append(1000 * (time.perf_counter() - t0))
                    sizes.append(len(body))
            for lon, lat in CENTRES.values():  # the baseline on the centre tiles: slow at low zoom
                tz, (tx, ty) = z, tile_of(lon, lat, z)
                t0 = time.perf_counter()
                row = conn.execute(BASELINE_SQL, {"z": tz, "x": tx, "y": ty}).fetchone()
                base.append(1000 * (time.perf_counter() - t0))
                bsizes.append(len(row[0] or b""))
            out.append(
                {
                    "z": z,
                    "ours_p50": pct(ours, 50),
                    "ours_p95": pct(ours, 95),
                    "ours_kb": statistics.median(sizes) / 1024,
                    "ours_max_kb": max(sizes) / 1024,
                    "base_p50": pct(base, 50),
                    "base_p95": pct(base, 95),
                    "base_kb": statistics.median(bsizes) / 1024,
                    "base_max_kb": max(bsizes) / 1024,
                    "n": len(ours),
                    "cold_ms": cold_ms,
                }
            )
            s.rollback()
    finally:
        s.close()
        conn.close()
    return out


def _bench_user(url: str) -> str:
    """A bench user's bearer token (police, registered at 127.0.0.1)."""
    from geo.access.tokens import create_token
    from geo.access.users import create_user
    from geo.db import session_scope

    with session_scope(url) as s:
        user = create_user(
            s,
            username=f"bench-{uuid.uuid4().hex[:8]}",
            password=uuid.uuid4().hex,
            role="police",
            agency="Benchmark",
            cidrs=["127.0.0.1/32"],
        )
        return create_token(user)[0]


def _serve_bench_db(url: str) -> None:
    """Point the app's own dependencies (request sessions, the async read pool) at the bench
    DB: what a deployment runs, no overrides."""
    os.environ["GOLDENTIME_DATABASE_URL"] = url
    os.environ.setdefault("GOLDENTIME_SECRET_KEY", f"bench-{uuid.uuid4().hex}{uuid.uuid4().hex}")
    os.environ["GOLDENTIME_WARMUP"] = "0"  # the in-process index is already warm
    from geo.settings import get_settings

    get_settings.cache_clear()


def _client(url: str, token: str) -> Any:
    """A TestClient of the app on the bench DB with the production dependencies, entered (its
    lifespan ran; one event loop for every request, as a server has)."""
    from fastapi.testclient import TestClient

    from api.main import app

    _serve_bench_db(url)
    client = TestClient(
        app, client=("127.0.0.1", 50000), headers={"Authorization": f"Bearer {token}"}
    )
    client.__enter__()
    return client


def _http_ms(get: Any, z: int) -> list[float]:
    ms = []
    for city, (lon, lat) in CENTRES.items():
        x, y = tile_of(lon, lat, z)
        t0 = time.perf_counter()
        r = get(f"/ogc/collections/cameras/tiles/{z}/{x}/{y}")
        ms.append(1000 * (time.perf_counter() - t0))
        assert r.status_code in (200, 204), (city, z, r.status_code, r.text[:200])
    return ms


def bench_http(client: Any, rounds: int) -> dict[int, tuple[float, float]]:
    """Centre tiles through the TestClient (ASGI in-process, bearer token, a session each)."""
    out = {}
    for z in ZOOMS:
        ms = [m for _ in range(rounds) for m in _http_ms(client.get, z)]
        out[z] = (pct(ms, 50), pct(ms, 95))
    return out


def bench_server(url: str, token: str, rounds: int, port: int = 8157) -> dict[int, Any]:
    """Centre tiles from a real server (``python -m api.server``, one worker, port ``port``)
    over keep-alive HTTP: what a client sees. The server warms its tile index at start
    (api/warmup.py); the first tile's time is reported apart, the rest measured after the
    warm-ups (15 s) and one unmeasured pass."""
    import subprocess

    import httpx

    env = {**os.environ, "GOLDENTIME_DATABASE_URL": url, "GOLDENTIME_WARMUP": "1"}
    cmd = [sys.executable, "-m", "api.server", "--port", str(port), "--workers", "1"]
    cmd += ["--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    out: dict[int, Any] = {}
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        ) as c:
            t0 = time.perf_counter()
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    c.get("/ogc/conformance")
                    break
                time.sleep(0.2)
            out[-1] = 1000 * (time.perf_counter() - t0)  # up and answering
            t0 = time.perf_counter()
            c.get("/ogc/collections/cameras/tiles/6/54/25")
            out[0] = 1000 * (time.perf_counter() - t0)  # first tile (warm-up may still run)
            time.sleep(15)  # let the JIT warm-up (a GIL-holding compile) finish: steady state
            for z in ZOOMS:
                _http_ms(c.get, z)  # one pass unmeasured (connection, prepared statements)
            for z in ZOOMS:
                ms = [m for _ in range(rounds) for m in _http_ms(c.get, z)]
                out[z] = (pct(ms, 50), pct(ms, 95))
    finally:
        proc.terminate()
        proc.wait(30)
    return out


# --- 3. features paging -----------------------------------------------------------------------


def bench_paging(client: Any, pages: int) -> dict[str, Any]:
    bbox = ",".join(str(v) for v in SEOUL_BBOX)
    nxt: str | None = f"/ogc/collections/cameras/items?bbox={bbox}&limit=1000"
    n = got = 0
    matched = 0
    t0 = time.perf_counter()
    while nxt and n < pages:
        r = client.get(nxt)
        r.raise_for_status()
        doc = r.json()
        got += doc["numberReturned"]
        matched = doc["numberMatched"]
        nxt = next((lk["href"] for lk in doc["links"] if lk["rel"] == "next"), None)
        n += 1
    dur = time.perf_counter() - t0
    deep = max(0, matched - 1000)
    t1 = time.perf_counter()
    r = client.get(f"/ogc/collections/cameras/items?bbox={bbox}&limit=1000&offset={deep}")
    r.raise_for_status()
    return {
        "pages": n,
        "items": got,
        "matched": matched,
        "items_per_s": got / dur,
        "page_ms": 1000 * dur / max(n, 1),
        "deep_offset": deep,
        "deep_ms": 1000 * (time.perf_counter() - t1),
    }


# --- main -------------------------------------------------------------------------------------


_STATEMENTS = (
    "copy_s",
    "stage_index_s",
    "cameras_s",
    "records_s",
    "finish_s",
    "fixup_s",
    "rebuild_s",
    "analyze_s",
    "views_record_s",
)
#: the stages of a load; a first load's pipeline (geo.load.bulk_pipeline) reads and checks on a
#: thread while the writes go on, so it has no separate copy+upsert stage
_STAGES = {"read_s": "read", "validate_s": "validate", "copy_upsert_s": "copy+upsert"}


def _print_load(res: dict[str, Any], rows: int) -> None:
    for label, rep, t in (
        ("first load (empty table)", res["first"], res["first_t"]),
        ("reload, same file", res["again"], res["again_t"]),
    ):
        stages = ", ".join(f"{name} {t[k]:.1f}" for k, name in _STAGES.items() if k in t)
        print(
            f"  {label:<26} wall {t['wall_s']:6.1f} s  ({stages})  CPU: python "
            f"{t['python_cpu_s']:.1f} s, database {t['db_cpu_s']:.1f} s   inserted "
            f"{rep.inserted:,} updated {rep.updated:,} unchanged {rep.unchanged:,} rejected "
            f"{rep.rejected}"
        )
        parts = [f"{k[:-2]} {t[k]:.1f}" for k in _STATEMENTS if k in t]
        if parts:  # geo.load.bulk.copy_upsert's timings: seconds by statement kind
            print(f"    {'':<26} statements (s): {', '.join(parts)}")
    print(f"  rejects by reason: {res['first'].reasons()}")
    print(f"  report as the generator expects, reload changed nothing: {res['report_ok']}")
    v = res["views_per_camera_ms"]
    print(
        f"  fields of view after the load: {v:.3f} ms per camera (one chunk of 20,000), about "
        f"{v * res['views_missing'] / 1000:.0f} s for the {res['views_missing']:,} cameras"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--file", type=Path, default=None, help="a generated file to load")
    ap.add_argument("--skip-load", action="store_true", help="use the cameras already loaded")
    ap.add_argument("--load-only", action="store_true", help="run the load benchmark alone")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the tiles per zoom")
    ap.add_argument("--pages", type=int, default=20, help="features pages to follow")
    args = ap.parse_args()
    from geo.schema import migrate

    url = embedded.cluster().url(db_name=BENCH_DB)
    embedded.start()
    migrate(url)
    print(
        f"tiles and national scale benchmark  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f"  {platform.node()} {os.cpu_count()} cores (shared), load average "
        f"{os.getloadavg()[0]:.1f} at start"
    )
    if not args.skip_load:
        import json

        from benchmarks.gen_national import generate

        if args.file:
            path = args.file
            exp_path = path.with_suffix(".expected.json")
            expected = json.loads(exp_path.read_text()) if exp_path.exists() else None
        else:
            t0 = time.perf_counter()
            path, expected = generate(args.rows)
            print(f"generated {path} ({args.rows:,} rows) in {time.perf_counter() - t0:.0f} s")
        print(f"\n== load {path.name} ({path.stat().st_size / 1e6:.0f} MB, CP949) via COPY")
        _print_load(bench_load(url, path, expected), args.rows)
        print(f"  (load average now {os.getloadavg()[0]:.1f})")
    if args.load_only:
        return
    with psycopg.connect(embedded._conninfo(_u(url), BENCH_DB)) as conn:
        n = conn.execute("select count(*) from cameras").fetchone()[0]
    print(f"\n== tiles of {n:,} cameras, 3x3 tiles around {len(CENTRES)} city centres per zoom")
    for r in bench_tiles(url, args.rounds):
        print(
            f"  z{r['z']:<3} geo.tiles.tile  p50 {r['ours_p50']:7.2f} ms  p95 {r['ours_p95']:7.2f}"
            f" ms  median {r['ours_kb']:6.1f} KB (max {r['ours_max_kb']:6.1f})   BASELINE "
            f"pg_tileserv SQL p50 {r['base_p50']:8.1f} ms  p95 {r['base_p95']:8.1f} ms  median "
            f"{r['base_kb']:7.1f} KB (max {r['base_max_kb']:7.1f})  n={r['n']}"
        )
    print(f"  (first tile call, index build included: {r['cold_ms']:.0f} ms)")
    _serve_bench_db(url)  # before the token: the server verifies it with the same key
    token = _bench_user(url)
    client = _client(url, token)
    srv = bench_server(url, token, args.rounds)
    print(
        f"  real server (python -m api.server, 1 worker): answering after {srv[-1]:.0f} ms, "
        f"first tile {srv[0]:.0f} ms (index warm-up in the background)"
    )
    for z, (p50, p95) in bench_http(client, args.rounds).items():
        print(
            f"  z{z:<3} HTTP GET .../tiles/z/x/y (8 centre tiles x {args.rounds})  TestClient p50 "
            f"{p50:7.2f} ms  p95 {p95:7.2f} ms   real server p50 {srv[z][0]:7.2f} ms  "
            f"p95 {srv[z][1]:7.2f} ms"
        )
    pg = bench_paging(client, args.pages)
    print(
        f"\n== features paging /ogc/collections/cameras/items bbox=Seoul limit=1000: "
        f"{pg['items']:,} items in {pg['pages']} pages, {pg['items_per_s']:,.0f} items/s "
        f"({pg['page_ms']:.0f} ms per page; numberMatched {pg['matched']:,}); one page at offset "
        f"{pg['deep_offset']:,}: {pg['deep_ms']:.0f} ms"
    )
    print(f"  (load average at end {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
