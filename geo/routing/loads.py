"""The road load counter kept in memory, refreshed by ``NOTIFY goldentime_loads``.

The routing graph is versioned by ``max(data_loads.id)`` (:mod:`geo.routing.graph`). Reading it
costs a round trip on every route request (2-5 ms on a loaded 2-core machine, issue 15). A
trigger (migration 0014) sends ``NOTIFY goldentime_loads`` after every committed change to
``data_loads``; one daemon thread per database LISTENs, re-reads the counter on each
notification and keeps it here. The counter is trusted only while that LISTEN connection is up:
otherwise :func:`known_version` answers ``None`` and the caller reads the database as before.

Like the users cache (:class:`geo.access.tokens.ActiveUserCache`), the value is the committed
state, delivered milliseconds after a commit.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "goldentime_loads"
VERSION_SQL = "select coalesce(max(id), 0) from data_loads"
#: Without the trigger nobody would notify: the counter is then never trusted.
TRIGGER_SQL = (
    "select 1 from pg_trigger where tgname = 'data_loads_notify' "
    "and tgrelid = 'data_loads'::regclass"
)
#: How often the listener wakes to check whether it was asked to stop (seconds).
POLL_S = 1.0


class LoadWatcher:
    """The load counter of one database, kept by a LISTEN thread (reconnects with backoff)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.version: int | None = None  # None: not listening, read the database
        self.stop_event = threading.Event()
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._run, name="road-load-listen", daemon=True)

    def start(self) -> LoadWatcher:
        self.thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening (the thread ends within ``POLL_S``); the counter is no longer trusted."""
        self.stop_event.set()
        self.version = None
        self.thread.join(timeout)

    def _run(self) -> None:
        delay = 0.5
        while not self.stop_event.is_set():
            try:
                self._listen()
                delay = 0.5
            except Exception as e:  # the database went away: read it per request until back
                log.debug("road load listener of %s: %s", self.url, e)
            finally:
                self.version = None
                self.connected.clear()
            self.stop_event.wait(delay)
            delay = min(2 * delay, 30.0)

    def _listen(self) -> None:
        import psycopg

        from geo.db import psycopg_kwargs

        with psycopg.connect(**psycopg_kwargs(self.url), autocommit=True) as conn:
            if conn.execute(TRIGGER_SQL).fetchone() is None:
                raise RuntimeError("data_loads has no notify trigger (migration 0014)")
            conn.execute(f"listen {NOTIFY_CHANNEL}")
            # read after LISTEN: a load committed in between is seen here or notified
            self.version = _read(conn)
            self.connected.set()
            while not self.stop_event.is_set():
                got = False
                for _ in conn.notifies(timeout=POLL_S):
                    got = True  # drain what has arrived, then read once
                    break
                if got:
                    self.version = _read(conn)


def _read(conn: Any) -> int:
    row = conn.execute(VERSION_SQL).fetchone()
    return int(row[0]) if row else 0


_watchers: dict[str, LoadWatcher] = {}  # database key (URL without password) -> its watcher
_lock = threading.Lock()


def watch(engine: Engine) -> LoadWatcher:
    """The watcher of ``engine``'s database, started on first use (one thread per database)."""
    key = engine.url.render_as_string(hide_password=True)
    w = _watchers.get(key)
    if w is None:
        with _lock:
            w = _watchers.get(key)
            if w is None:
                w = LoadWatcher(engine.url.render_as_string(hide_password=False)).start()
                _watchers[key] = w
    return w


def known_version(session: Session) -> int | None:
    """The load counter without a round trip, or ``None`` when it must be read.

    Only for a session bound to an engine and outside a transaction: its next statement sees
    just the committed state, which is what the notified counter is. A session on a caller's
    connection (a test's transaction, a loader's) may see its own uncommitted load: ``None``.
    """
    bind = session.get_bind()
    if not isinstance(bind, Engine) or session.in_transaction():
        return None
    return watch(bind).version


def stop_watchers() -> None:
    """Stop every watcher of this process (tests; a process that drops its database)."""
    with _lock:
        ws = list(_watchers.values())
        _watchers.clear()
    for w in ws:
        w.stop()


def read_version(session: Session) -> int:
    """The load counter read from the database (one round trip)."""
    return int(session.execute(text(VERSION_SQL)).scalar_one())
