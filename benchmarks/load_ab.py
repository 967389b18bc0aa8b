"""The national first load, this checkout against an older commit, alternating in one run.

Issue 14's target is a 1M-row national standard file loaded by ``goldentime load cameras`` in under
60 s. A figure from another hour on a shared 2-core machine proves little (the same code took 51 s
and 100 s on one morning), so this script times first loads of the SAME file by both codes,
alternately (the order rotated every round: A B, B A, ...):

* ``new``: this checkout;
* ``base``: the old commit, checked out as a ``git worktree`` (made under ``/tmp`` when missing
  and removed afterwards; this repository's checkout, index and branch are not touched), run by
  this venv's Python with ``PYTHONPATH`` set to it.

Each code loads into its own database of the embedded cluster (``goldentime_bench_load_<label>``,
migrated by that code: the two schemas may differ), emptied before every load, in a fresh
process: :func:`geo.load.bulk.load_cameras_bulk` in one transaction, commit included, views
left to the CLI's later pass (as ``benchmarks/tiles.py --load-only``). Per load: wall seconds,
this process's CPU, the database's CPU (every backend of that database, from ``/proc``), the
load average before and after, the per-statement timings and the tables' sizes; the report's
counts must be the same for both codes. Then, on each code's loaded table, the exact count of the
cameras in Seoul's box behind a features page's ``numberMatched`` (``--count-only``: that alone,
on the tables the last run left).

Run under the shared bench lock (the file: ``benchmarks/gen_national.py``, 1M rows, 222 MB)::

    .venv/bin/python benchmarks/gen_national.py --out /tmp/n1m.csv
    flock /tmp/goldentime-bench.lock .venv/bin/python -u benchmarks/load_ab.py \\
        --base 886908d --file /tmp/n1m.csv --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _db_cpu_s(db: str, stop: threading.Event, seen: dict[str, float]) -> None:
    """Poll the CPU seconds of every backend of ``db`` (``postgres: user db ...``) until stopped."""
    tck = os.sysconf("SC_CLK_TCK")
    tag = f" {db} ".encode()
    while not stop.is_set():
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" ") + b" "
                if b"postgres" not in cmd or tag not in cmd:
                    continue
                fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
                seen[d] = (int(fields[11]) + int(fields[12])) / tck
            except OSError:
                pass
        stop.wait(0.3)


def one_load(label: str, path: Path) -> dict[str, Any]:
    """In the child: empty this code's database, time one first load of ``path``."""
    import psycopg
    from sqlalchemy.engine import make_url

    import geo
    from geo import embedded
    from geo.db import session_scope
    from geo.load.bulk import load_cameras_bulk
    from geo.schema import migrate

    here = Path(geo.__file__).resolve().parent.parent
    if here != Path(os.environ["PYTHONPATH"]).resolve():
        raise RuntimeError(f"{label}: imported geo from {here}, not {os.environ['PYTHONPATH']}")
    db = f"goldentime_bench_load_{label}"
    url = embedded.cluster().url(db_name=db)
    embedded.ensure_database(url)
    migrate(url)
    conninfo = embedded._conninfo(make_url(url), db)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("truncate cameras cascade")
        conn.execute("truncate camera_sources")
        conn.execute("delete from data_loads where kind = 'cameras'")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("checkpoint")
    la0 = os.getloadavg()[0]
    tm: dict[str, float] = {}
    stop, seen = threading.Event(), dict[str, float]()
    poll = threading.Thread(target=_db_cpu_s, args=(db, stop, seen))
    poll.start()
    time.sleep(0.6)
    base = dict(seen)
    t0, c0 = time.perf_counter(), time.process_time()
    with session_scope(url) as s:
        rep = load_cameras_bulk(s, path=path, refresh_views=False, timings=tm)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    stop.set()
    poll.join()
    with psycopg.connect(conninfo) as conn:
        sizes = conn.execute(
            """select (select count(*) from cameras), (select count(*) from camera_sources),
                      pg_relation_size('cameras'), pg_relation_size('camera_sources')"""
        ).fetchone()
    assert sizes is not None
    return {
        "label": label,
        "wall_s": wall,
        "python_cpu_s": cpu,
        "db_cpu_s": sum(v - base.get(k, 0.0) for k, v in seen.items()),
        "load_avg": [la0, os.getloadavg()[0]],
        "counts": [rep.inserted, rep.rejected, len(rep.warnings), sizes[0], sizes[1]],
        "mb": [round(sizes[2] / 2**20), round(sizes[3] / 2**20)],
        "timings": {k: round(v, 1) for k, v in tm.items()},
    }


#: Seoul's box of benchmarks/tiles.py's features paging (about 248k of the 1M cameras)
SEOUL = (126.90, 37.50, 127.06, 37.62)


def count_ms(labels: list[str], rounds: int = 7) -> dict[str, float]:
    """Median ms of the exact count behind a features page's ``numberMatched`` (the cameras in
    Seoul's box) on each code's loaded table, alternating: what a narrower row costs to scan."""
    import psycopg
    from sqlalchemy.engine import make_url

    from geo import embedded

    sql = "select count(*) from cameras where geom && st_makeenvelope(%s, %s, %s, %s, 4326)"
    times: dict[str, list[float]] = {label: [] for label in labels}
    conns = {}
    for label in labels:
        db = f"goldentime_bench_load_{label}"
        url = embedded.cluster().url(db_name=db)
        conns[label] = psycopg.connect(embedded._conninfo(make_url(url), db), autocommit=True)
        conns[label].execute("set jit = off")
        conns[label].execute(sql, SEOUL)  # warm
    try:
        for _ in range(rounds):
            for label in labels:
                t0 = time.perf_counter()
                conns[label].execute(sql, SEOUL).fetchone()
                times[label].append(1000 * (time.perf_counter() - t0))
    finally:
        for c in conns.values():
            c.close()
    return {label: statistics.median(t) for label, t in times.items()}


def _run(label: str, code: Path, path: Path) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(code))
    env.setdefault("GOLDENTIME_HOME", str(ROOT / ".goldentime"))  # one cluster for both codes
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--one", label, "--file", str(path)],
        cwd=code,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _line(r: dict[str, Any]) -> str:
    la = r["load_avg"]
    return (
        f"{time.strftime('%H:%M:%S', time.gmtime())} {r['label']:>5}: wall {r['wall_s']:6.1f} s,"
        f" python CPU {r['python_cpu_s']:5.1f} s, database CPU {r['db_cpu_s']:5.1f} s,"
        f" load average {la[0]:.2f} -> {la[1]:.2f}; cameras {r['mb'][0]} MB,"
        f" records {r['mb'][1]} MB\n       {r['timings']}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default="886908d", help="the older commit (default: 886908d)")
    ap.add_argument("--base-dir", type=Path, help="an existing checkout of it (else a worktree)")
    ap.add_argument("--file", type=Path, help="the generated national file")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count-only", action="store_true", help="only time the Seoul count")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # the child: one load by this code
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_load(args.one, args.file)))
        return
    if args.count_only:
        sys.path.insert(0, str(ROOT))
        print(f"count in Seoul's box, median ms: {count_ms(['new', 'base'])}")
        return
    sys.path.insert(0, str(ROOT))
    from benchmarks.nearest_ab import _worktree

    base_dir, ours = _worktree(args.base, args.base_dir)
    codes = {"new": ROOT, "base": base_dir}
    print(f"first load of {args.file} ({args.file.stat().st_size / 1e6:.0f} MB): this checkout")
    print(f"against {args.base} ({base_dir}), {args.rounds} rounds, {os.cpu_count()} cores")
    results: dict[str, list[dict[str, Any]]] = {"new": [], "base": []}
    try:
        for i in range(args.rounds):
            order = ["base", "new"] if i % 2 == 0 else ["new", "base"]
            for label in order:
                r = _run(label, codes[label], args.file)
                results[label].append(r)
                print(_line(r), flush=True)
    finally:
        if ours:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_dir)],
                check=False,
            )
    counts = {label: {tuple(r["counts"]) for r in rs} for label, rs in results.items()}
    print(f"report counts (inserted, rejected, warnings, cameras, records): {counts}")
    for label, rs in results.items():
        walls = sorted(round(r["wall_s"], 1) for r in rs)
        print(
            f"{label:>5}: wall median {statistics.median(walls):.1f} s {walls}, database CPU "
            f"median {statistics.median(r['db_cpu_s'] for r in rs):.1f} s, under 60 s in "
            f"{sum(w < 60 for w in walls)} of {len(walls)}"
        )
    print(
        f"count in Seoul's box (a features page's numberMatched), median ms: {count_ms(list(codes))}"
    )


if __name__ == "__main__":
    main()
