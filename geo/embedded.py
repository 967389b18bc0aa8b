"""Embedded PostgreSQL/PostGIS cluster kept in a project folder.

PostgreSQL refuses to run as root, so when invoked as root the cluster belongs to the ``postgres``
OS user (created by Debian's package) and every command runs through ``runuser``. The server
listens on a Unix socket in its own folder only (no TCP port to clash with other clusters).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo.errors import Unavailable
from geo.settings import get_settings

PG_VERSION = "15"
PG_BIN = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
APT_PACKAGES = [f"postgresql-{PG_VERSION}-postgis-3", f"postgresql-{PG_VERSION}-pgrouting"]
PORT = 5432  # only names the socket file; nothing listens on TCP


@dataclass(frozen=True)
class Cluster:
    """Paths of one embedded cluster."""

    home: Path

    @property
    def data_dir(self) -> Path:
        return self.home / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_file(self) -> Path:
        return self.home / "log" / "postgres.log"

    def url(self, db_name: str | None = None, user: str | None = None) -> str:
        s = get_settings()
        return (
            f"postgresql+psycopg://{user or s.db_user}@/{db_name or s.db_name}"
            f"?host={self.socket_dir}&port={PORT}"
        )


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if _is_root() else cmd


def _traversable_by_postgres(path: Path) -> bool:
    if not _is_root():
        return True
    probe = path
    while not probe.exists():
        probe = probe.parent
    r = subprocess.run(_as_owner(["test", "-x", str(probe)]), capture_output=True)
    return r.returncode == 0


def cluster() -> Cluster:
    """The cluster for this checkout: ``GOLDENTIME_HOME`` or ``.goldentime/`` in the project.

    Falls back to a folder under ``/var/tmp`` (named after the project path) when the postgres
    user cannot reach the project folder or the socket path would exceed the Unix limit.
    """
    home = get_settings().home.resolve()
    sock = home / "run" / f".s.PGSQL.{PORT}"
    if len(str(sock)) > 100 or not _traversable_by_postgres(home.parent):
        digest = hashlib.sha1(str(home).encode()).hexdigest()[:10]
        home = Path("/var/tmp") / f"goldentime-{digest}"
    return Cluster(home)


def ensure_packages() -> None:
    """Install PostgreSQL 15 with PostGIS 3 and pgRouting from Debian when they are missing."""
    have_postgis = Path(f"/usr/share/postgresql/{PG_VERSION}/extension/postgis.control").exists()
    have_pgr = Path(f"/usr/share/postgresql/{PG_VERSION}/extension/pgrouting.control").exists()
    if (PG_BIN / "initdb").exists() and have_postgis and have_pgr:
        return
    sudo = [] if _is_root() else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print(f"Installing {' '.join(APT_PACKAGES)} ...", flush=True)
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", *APT_PACKAGES], check=True, env=env)


def _pg_ctl(c: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _as_owner([str(PG_BIN / "pg_ctl"), "-D", str(c.data_dir), *args]),
        capture_output=True,
        text=True,
        check=check,
    )


def is_running(c: Cluster | None = None) -> bool:
    c = c or cluster()
    if not (c.data_dir / "PG_VERSION").exists():
        return False
    return _pg_ctl(c, "status", check=False).returncode == 0


def init(c: Cluster | None = None) -> Cluster:
    """Create the cluster's folders and run ``initdb`` once."""
    c = c or cluster()
    ensure_packages()
    for d in (c.home, c.socket_dir, c.log_file.parent):
        d.mkdir(parents=True, exist_ok=True)
    if _is_root():
        shutil.chown(c.home, "postgres", "postgres")
        for d in (c.socket_dir, c.log_file.parent):
            shutil.chown(d, "postgres", "postgres")
    if not (c.data_dir / "PG_VERSION").exists():
        c.data_dir.mkdir(exist_ok=True)
        if _is_root():
            shutil.chown(c.data_dir, "postgres", "postgres")
        os.chmod(c.data_dir, 0o700)
        user = get_settings().db_user
        subprocess.run(
            _as_owner(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(c.data_dir),
                    "-A",
                    "trust",
                    "-U",
                    user,
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        with open(c.data_dir / "postgresql.auto.conf", "a") as f:
            f.write(
                "listen_addresses = ''\n"
                f"unix_socket_directories = '{c.socket_dir}'\n"
                "max_connections = 200\n"
                "shared_buffers = '512MB'\n"
                "work_mem = '32MB'\n"
                "maintenance_work_mem = '256MB'\n"
                "fsync = on\n"
                "timezone = 'UTC'\n"
            )
    _ensure_settings(c)
    return c


#: Set on every cluster, also one initialised before they were added (both take a reload):
#: a national camera load writes about 5 GB of WAL; with the default 1 GB PostgreSQL
#: checkpointed every 2-3 s during it and re-logged whole index pages after each checkpoint.
WAL_SETTINGS = {"max_wal_size": "'8GB'", "checkpoint_timeout": "'15min'"}


def _ensure_settings(c: Cluster) -> None:
    """Append the :data:`WAL_SETTINGS` missing from ``postgresql.auto.conf``; reload a running
    server that lacked them."""
    conf = c.data_dir / "postgresql.auto.conf"
    have = conf.read_text() if conf.exists() else ""
    missing = [k for k in WAL_SETTINGS if not any(ln.startswith(k) for ln in have.splitlines())]
    if not missing:
        return
    with open(conf, "a") as f:
        f.write("".join(f"{k} = {WAL_SETTINGS[k]}\n" for k in missing))
    if is_running(c):
        _pg_ctl(c, "reload", check=False)


def start(c: Cluster | None = None, timeout_s: float = 30.0) -> Cluster:
    """Initialise if needed and start the cluster; return once it accepts connections."""
    c = init(c)
    if not is_running(c):
        r = _pg_ctl(c, "-l", str(c.log_file), "-w", "-t", str(int(timeout_s)), "start", check=False)
        if r.returncode != 0 and not is_running(c):
            tail = c.log_file.read_text()[-2000:] if c.log_file.exists() else ""
            raise Unavailable(f"embedded PostgreSQL did not start: {r.stderr.strip()}\n{tail}")
    deadline = time.monotonic() + timeout_s
    while not (c.socket_dir / f".s.PGSQL.{PORT}").exists():
        if time.monotonic() > deadline:
            raise Unavailable(f"embedded PostgreSQL socket not ready in {c.socket_dir}")
        time.sleep(0.1)
    return c


def stop(c: Cluster | None = None) -> None:
    c = c or cluster()
    if is_running(c):
        _pg_ctl(c, "-m", "fast", "-w", "stop")


def ensure_database(url: str, *, extensions: tuple[str, ...] = ("postgis", "pgrouting")) -> None:
    """Create the database of ``url`` when missing and the extensions in it."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conninfo = _conninfo(u, "postgres")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = %s", (u.database,)
        ).fetchone()
        if not exists:
            conn.execute(f'create database "{u.database}"')
    with psycopg.connect(_conninfo(u, u.database or "postgres"), autocommit=True) as conn:
        for ext in extensions:
            conn.execute(f"create extension if not exists {ext}")


def drop_database(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    with psycopg.connect(_conninfo(u, "postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{u.database}" with (force)')


def _conninfo(u: Any, dbname: str) -> str:
    parts = [f"dbname={dbname}"]
    if u.username:
        parts.append(f"user={u.username}")
    if u.password:
        parts.append(f"password={u.password}")
    host = u.query.get("host") or u.host
    if host:
        parts.append(f"host={host}")
    port = u.query.get("port") or u.port
    if port:
        parts.append(f"port={port}")
    return " ".join(parts)
