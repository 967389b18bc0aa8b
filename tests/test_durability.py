"""kill -9 during a load, and a database crash during a load: 0 partial rows, a re-run completes.

Tried as in the field: ``goldentime load cameras|incidents <real file>`` runs as its own process
against a database of its own; once its transaction has written (its backend holds a transaction
id, seen in ``pg_stat_activity``) the loader is killed with SIGKILL, or the whole PostgreSQL
cluster is stopped with ``pg_ctl stop -m immediate`` (a crash: no checkpoint, WAL recovery on
restart). Afterwards the tables hold no row of the interrupted load, and a re-run gives exactly
what an uninterrupted load gives (same rows, same geometry).

The database crash uses a throwaway cluster in a temporary folder (never the shared one).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from geo import embedded
from geo.schema import migrate

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CAMERAS = ROOT / "data" / "daejeon-cctv" / "cctv_daejeon_2015_cp949.csv"
INCIDENTS = ROOT / "data" / "daejeon-incidents" / "traffic_accidents_yuseong_2017_2021.csv"
APP = "gt_durability_load"  # application_name of the loader's connections

#: What a table's content is, for comparing two loads: rows, and a digest of every key and
#: geometry (in key order).
FINGERPRINT = {
    "cameras": "select count(*), md5(coalesce(string_agg(source || '|' || external_id || '|' "
    "|| st_astext(geom), ',' order by source, external_id), '')) from cameras",
    "incidents": "select count(*), md5(coalesce(string_agg(source || '|' || "
    "coalesce(external_id, '') || '|' || occurred_at::text || '|' || st_astext(geom), ',' "
    "order by source, external_id, occurred_at), '')) from incidents",
}


def _goldentime() -> list[str]:
    exe = Path(sys.executable).parent / "goldentime"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cli.main"]


def _conninfo(url: str) -> str:
    return embedded._conninfo(make_url(url), make_url(url).database or "postgres")


def fingerprint(url: str, table: str) -> tuple[int, str]:
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        row = conn.execute(FINGERPRINT[table]).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def new_database(base_url: str, name: str) -> str:
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    embedded.drop_database(url)
    embedded.ensure_database(url)
    migrate(url)
    return url


class Loader:
    """``goldentime load KIND FILE`` as a child process against ``url``."""

    def __init__(self, url: str, kind: str, path: Path, home: Path) -> None:
        sep = "&" if "?" in url else "?"
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update(
            GOLDENTIME_DATABASE_URL=f"{url}{sep}application_name={APP}",
            GOLDENTIME_HOME=str(home),  # reject reports go to the test's folder
        )
        self.url = url
        self.proc = subprocess.Popen(
            [*_goldentime(), "load", kind, str(path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_for_write(self, timeout_s: float = 60.0) -> bool:
        """Block until the loader's transaction has written (its backend has a transaction id);
        ``False`` if the process ended first."""
        deadline = time.monotonic() + timeout_s
        with psycopg.connect(_conninfo(self.url), autocommit=True) as conn:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    return False
                row = conn.execute(
                    "select count(*) from pg_stat_activity where application_name = %s "
                    "and backend_xid is not null",
                    (APP,),
                ).fetchone()
                if row and row[0]:
                    return True
                time.sleep(0.02)
        raise AssertionError("the loader never started writing")

    def finish(self, timeout_s: float = 120.0) -> tuple[int, str]:
        out, _ = self.proc.communicate(timeout=timeout_s)
        return self.proc.returncode, out


def wait_backends_gone(url: str, timeout_s: float = 30.0) -> None:
    """Wait until the killed loader's backends have noticed and rolled back."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "select count(*) from pg_stat_activity where application_name = %s", (APP,)
            ).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.05)
    raise AssertionError("the killed loader's backend is still there")


@pytest.fixture(scope="module")
def dbs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Two fresh databases on the test cluster: ``ref`` (uninterrupted loads) and ``victim``."""
    base = os.environ["GOLDENTIME_DATABASE_URL"]
    pid = os.getpid()
    urls = {
        "ref": new_database(base, f"goldentime_dur_ref_{pid}"),
        "victim": new_database(base, f"goldentime_dur_kill_{pid}"),
    }
    home = tmp_path_factory.mktemp("durability_home")
    try:
        yield {**urls, "home": home}
    finally:
        for u in urls.values():
            embedded.drop_database(u)


@pytest.fixture(scope="module")
def reference(dbs: dict[str, object]) -> dict[str, tuple[int, str]]:
    """An uninterrupted load of each file (the same loader, in this process, one transaction
    each, as the command runs it): what every completed load must equal."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from geo.load.cameras import load_cameras
    from geo.load.incidents import load_incidents
    from geo.settings import get_settings

    url = str(dbs["ref"])
    eng = create_engine(url)
    out: dict[str, tuple[int, str]] = {}
    settings = get_settings()
    old_home, settings.home = settings.home, Path(str(dbs["home"]))  # reject reports there
    try:
        for kind, loader, path in (
            ("cameras", load_cameras, CAMERAS),
            ("incidents", load_incidents, INCIDENTS),
        ):
            with Session(eng) as s, s.begin():
                loader(s, path=path)
            out[kind] = fingerprint(url, kind)
            assert out[kind][0] > 1000, (kind, out[kind])
    finally:
        settings.home = old_home
        eng.dispose()
    return out


@pytest.mark.parametrize(("kind", "path"), [("cameras", CAMERAS), ("incidents", INCIDENTS)])
def test_kill_9_of_a_load_leaves_no_partial_rows_and_a_rerun_completes(
    dbs: dict[str, object], reference: dict[str, tuple[int, str]], kind: str, path: Path
) -> None:
    url, home = str(dbs["victim"]), Path(str(dbs["home"]))
    before = fingerprint(url, kind)
    assert before[0] == 0
    killed = 0
    # kill at the first write, and a little later (deeper into the load) each time
    for delay_s in (0.0, 0.5):
        ld = Loader(url, kind, path, home)
        if ld.wait_for_write():
            time.sleep(delay_s)
            if ld.proc.poll() is None:
                ld.proc.send_signal(signal.SIGKILL)
        rc, log = ld.finish()
        wait_backends_gone(url)
        now = fingerprint(url, kind)
        if rc == -signal.SIGKILL:
            killed += 1
            assert now == before, f"partial rows after kill -9 ({delay_s} s): {now} vs {before}"
        else:  # the load won the race: then it is complete, never partial
            assert rc == 0, log
            assert now == reference[kind]
            return
    assert killed >= 1
    print(f"{kind}: {killed} loads killed mid-transaction, 0 partial rows")
    rc, log = Loader(url, kind, path, home).finish()
    assert rc == 0, log
    assert fingerprint(url, kind) == reference[kind]


def test_database_crash_mid_load_leaves_no_partial_rows_and_a_rerun_completes(
    dbs: dict[str, object], reference: dict[str, tuple[int, str]]
) -> None:
    if not (embedded.PG_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL binaries in {embedded.PG_BIN} for a throwaway cluster")
    # a throwaway cluster (short path: Unix socket names are limited to ~100 bytes)
    home = Path(tempfile.mkdtemp(prefix="gtcrash", dir="/tmp"))
    c = embedded.Cluster(home)
    try:
        embedded.init(c)
        with open(c.data_dir / "postgresql.auto.conf", "a") as f:
            f.write("shared_buffers = '64MB'\nmax_connections = 20\n")
        embedded.start(c)
        url = new_database(c.url(db_name="crash"), "crash")
        assert fingerprint(url, "cameras")[0] == 0

        ld = Loader(url, "cameras", CAMERAS, home / "state")
        assert ld.wait_for_write(), ld.finish()[1]
        r = embedded._pg_ctl(c, "-m", "immediate", "-w", "stop", check=False)
        assert r.returncode == 0, r.stderr
        rc, log = ld.finish()
        assert rc != 0, log  # the loader lost its database mid-transaction

        embedded.start(c)  # crash recovery from the WAL
        assert fingerprint(url, "cameras")[0] == 0  # nothing of the crashed transaction

        rc, log = Loader(url, "cameras", CAMERAS, home / "state").finish()
        assert rc == 0, log
        assert fingerprint(url, "cameras") == reference["cameras"]
    finally:
        embedded._pg_ctl(c, "-m", "immediate", "stop", check=False)
        shutil.rmtree(home, ignore_errors=True)
