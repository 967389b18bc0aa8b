"""The nearest-camera API, this checkout against an older commit, same database, same run.

Issue 15's nearest target is "p50 no worse than today's", where today's is the code before the
road-distance engine (commit ``3954e3c``: road distances by one ``pgr_dijkstra`` per request). A
figure from another day on a shared 2-core machine proves nothing, so this script serves the
SAME bench database (``goldentime_bench`` of :mod:`benchmarks.nearest`: 100k synthetic cameras,
the real Daejeon cameras, accidents and arterial roads) with both codes at once and loads them
alternately (the order rotated every round: A B, B A, ...), with the same requests:

* ``new``: this checkout (``api.main:app`` through :mod:`api.server`, one worker per core);
* ``base``: the old commit, checked out as a ``git worktree`` (made under ``/tmp`` when missing
  and removed afterwards; the checkout, index and branch of this repository are not touched),
  run by this venv's Python with ``PYTHONPATH`` set to it, same server options;
* ``--also LABEL=DIR``: more checkouts served and loaded alike (say ``head``, a worktree of HEAD,
  to see what uncommitted changes do);
* ``floor``: this checkout's ``GET /`` (a static page): what the framework and the machine cost.

Per line: p50 / p95 latency and req/s from ``wrk`` (4 connections), the servers' CPU per request
(the uvicorn processes) and the PostgreSQL backends' CPU per request (the old code's
``pgr_dijkstra`` runs there; backends of the bench database, read from ``/proc``), the median
round by req/s and every round's req/s. Before loading, both codes answer the same 1,000 places
once: the ranked ids must agree, and the count of answers with ``network_distance_m`` is printed.

Run under the shared bench lock::

    flock /tmp/goldentime-bench.lock .venv/bin/python -u benchmarks/nearest_ab.py --rounds 4
    git worktree add --detach /tmp/head HEAD   # then: ... --also head=/tmp/head --rounds 6
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.nearest import (  # noqa: E402
    _bench_token,
    _cpu_s,
    _free_port,
    _load_real,
    _load_roads,
    _load_wrk,
    _tree_cpu_s,
    bench_url,
    conninfo,
    ensure_synthetic,
    query_points,
    wait_up,
)
from geo import embedded  # noqa: E402

#: The code before issue 15's engine work (pgr_dijkstra per request in geo/nearest.py).
BASE_REV = "3954e3c"


def _load() -> list[str]:
    """The 1, 5 and 15 minute load averages."""
    return Path("/proc/loadavg").read_text().split()[:3]


def _worktree(rev: str, path: Path | None) -> tuple[Path, bool]:
    """A checkout of ``rev`` (``git worktree add --detach``); returns it and whether it is ours."""
    if path is not None and (path / "api" / "main.py").exists():
        return path, False
    where = path or Path(tempfile.mkdtemp(prefix="goldentime-ab-")) / "base"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev],
        check=True,
        capture_output=True,
    )
    return where, True


def _start(label: str, code: Path, app: str, url: str, workers: int) -> dict[str, Any]:
    """``python -m api.server`` of the code at ``code`` on a free port, waited for."""
    port = _free_port()
    env = dict(os.environ, GOLDENTIME_DATABASE_URL=url, PYTHONPATH=str(code))
    env.pop("DATABASE_URL", None)
    cmd = [sys.executable, "-m", "api.server", app, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(cmd, cwd=code, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base, proc, timeout_s=90, label=label)
    except RuntimeError:
        proc.terminate()
        raise
    return {"label": label, "proc": proc, "base": base, "code": code, "runs": []}


def _db_backends_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL backend connected to the bench database."""
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        me = conn.execute("select pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        pids = [
            r[0]
            for r in conn.execute(
                "select pid from pg_stat_activity where datname = current_database()"
            ).fetchall()
        ]
    out = {}
    for pid in pids:
        if pid == me:
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            out[pid] = _cpu_s(pid)
    return out


def _answers(sv: dict[str, Any], paths: list[str]) -> list[list[tuple[int, float | None]]]:
    """Every place answered once: (id, network_distance_m) per ranked camera."""
    out = []
    headers = {"Authorization": f"Bearer {sv['token']}"}
    with httpx.Client(base_url=sv["base"], headers=headers, timeout=30) as c:
        for p in paths:
            r = c.get(p)
            r.raise_for_status()
            feats = r.json()["features"]
            out.append(
                [(f["properties"]["id"], f["properties"]["network_distance_m"]) for f in feats]
            )
    return out


def _compare(new: list[Any], base: list[Any]) -> str:
    same_ids = sum([i for i, _ in a] == [i for i, _ in b] for a, b in zip(new, base, strict=True))
    roads_new = sum(any(d is not None for _, d in a) for a in new)
    roads_base = sum(any(d is not None for _, d in b) for b in base)
    return (
        f"ranked ids identical in {same_ids}/{len(new)} answers; answers with road distances: "
        f"{roads_new} and {roads_base}"
    )


def _line(sv: dict[str, Any]) -> str:
    runs = sorted(sv["runs"], key=lambda x: x["rps"])
    r = runs[len(runs) // 2]
    return (
        f"  {sv['label']:<6} p50 {r['p50_ms']:6.2f} ms  p95 {r['p95_ms']:6.2f} ms  "
        f"{r['rps']:6,.0f} req/s  server CPU {r['cpu_ms']:.2f} ms/req  "
        f"db CPU {r['db_cpu_ms']:.2f} ms/req  (non-2xx {r['non2xx']}, errors {r['errors']}, "
        f"{r['client']})  rounds p50 {[round(x['p50_ms'], 2) for x in sv['runs']]} "
        f"req/s {[round(x['rps']) for x in sv['runs']]}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base-rev", default=BASE_REV, help="the baseline commit")
    ap.add_argument("--base-dir", type=Path, help="an existing checkout of it (else a worktree)")
    ap.add_argument("--size", type=int, default=100_000, help="synthetic cameras")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=5000, help="about this many per line/round")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--workers", type=int, default=0, help="0 = one per core (the service)")
    ap.add_argument("--no-floor", action="store_true", help="skip the static-page line")
    ap.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="one more checkout to serve and load alike (e.g. head=/tmp/head, a worktree of HEAD)",
    )
    args = ap.parse_args()

    url = bench_url()
    embedded.start()
    from geo.schema import migrate

    migrate(url)
    _load_real(url)
    n_edges = _load_roads(url, load=True)
    ensure_synthetic(url, args.size)
    points = query_points(url, args.queries)
    paths = [f"/api/cameras/nearest?lat={a:.6f}&lon={b:.6f}&k=5" for a, b in points]
    workers = args.workers or (os.cpu_count() or 1)
    base_dir, ours = _worktree(args.base_rev, args.base_dir)
    rev = subprocess.run(
        ["git", "-C", str(base_dir), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(
        f"nearest API A/B  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "
        f"{os.cpu_count()} cores (shared); new = {ROOT} (working tree), base = {rev} at "
        f"{base_dir}; {args.size:,} synthetic cameras, {n_edges:,} road edges; "
        f"load average {_load()} at start",
        flush=True,
    )
    servers: list[dict[str, Any]] = []
    try:
        servers.append(_start("new", ROOT, "api.main:app", url, workers))
        servers.append(_start("base", base_dir, "api.main:app", url, workers))
        for spec in args.also:
            label, _, where = spec.partition("=")
            servers.append(_start(label, Path(where), "api.main:app", url, workers))
        for sv in servers:
            sv["token"] = _bench_token(url, sv["base"])
            sv["paths"] = paths
        got = {sv["label"]: _answers(sv, paths) for sv in servers}  # also the warm-up
        for sv in servers[1:]:
            print(f"  new vs {sv['label']}: " + _compare(got["new"], got[sv["label"]]), flush=True)
        apis = list(servers)
        if not args.no_floor:
            floor = dict(servers[0], label="floor", paths=["/"], token="none", runs=[])
            servers.append(floor)
        for rnd in range(args.rounds):
            # the API lines in turn, rotated every round (A B, B A, ...), the floor last
            k = rnd % len(apis)
            order = apis[k:] + apis[:k] + servers[len(apis) :]
            for sv in order:
                cpu0 = _tree_cpu_s(sv["proc"].pid)
                db0 = _db_backends_cpu(url)
                r = _load_wrk(sv["base"], sv["paths"], sv["token"], args.requests, args.concurrency)
                db1 = _db_backends_cpu(url)
                n = max(1, r["all_requests"])
                r["cpu_ms"] = (_tree_cpu_s(sv["proc"].pid) - cpu0) * 1000 / n
                r["db_cpu_ms"] = sum(v - db0.get(p, 0.0) for p, v in db1.items()) * 1000 / n
                sv["runs"].append(r)
            print(
                f"  round {rnd + 1}: "
                + ", ".join(f"{sv['label']} p50 {sv['runs'][-1]['p50_ms']:.2f}" for sv in order)
                + f"  (load {_load()[0]})",
                flush=True,
            )
    finally:
        for sv in servers:
            if sv["label"] == "floor":
                continue
            sv["proc"].terminate()
            try:
                sv["proc"].wait(10)
            except subprocess.TimeoutExpired:
                sv["proc"].kill()
        if ours:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_dir)],
                check=False,
            )
    print(
        f"median round by req/s of {args.rounds} ({args.concurrency} connections, {workers} "
        f"workers each); load average {_load()} at the end:"
    )
    for sv in servers:
        print(_line(sv))
    summary = {sv["label"]: {k: v for k, v in sv.items() if k in ("runs",)} for sv in servers}
    print("JSON " + json.dumps(summary))


if __name__ == "__main__":
    main()
