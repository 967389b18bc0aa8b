"""The road load counter without a round trip (issue 15): kept in memory from
``NOTIFY goldentime_loads`` (migration 0014, :mod:`geo.routing.loads`).

The attacks: an investigator routed on yesterday's roads after a load committed (the notified
counter missed it, or a caller's own uncommitted load hidden by it); every route paying a round
trip for a number that has not changed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

import geo.routing as R
from geo.routing import loads

#: Two points on the Helsinki extract (sample data).
A = R.Place(lon=24.9384, lat=60.1699)
B = R.Place(lon=24.9414, lat=60.1699)
DEADLINE_S = 60.0  # bounded waits only: a notification takes milliseconds


@pytest.fixture
def watcher(fresh_engine: Engine, sample_loaded: Any) -> Iterator[loads.LoadWatcher]:
    w = loads.watch(fresh_engine)
    assert w.connected.wait(DEADLINE_S), "the LISTEN connection never came up"
    yield w
    loads.stop_watchers()


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement ``engine`` sends while the block runs."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def wait_version(w: loads.LoadWatcher, want: int) -> int | None:
    """Poll until the watcher holds ``want`` (bounded; returns what it holds at the end)."""
    end = time.monotonic() + DEADLINE_S
    while w.version != want and time.monotonic() < end:
        time.sleep(0.02)
    return w.version


def committed_version(engine: Engine) -> int:
    with Session(engine) as s:
        return loads.read_version(s)


def test_no_sql_for_the_version_while_nothing_was_loaded(
    watcher: loads.LoadWatcher, fresh_engine: Engine
) -> None:
    now = committed_version(fresh_engine)
    assert wait_version(watcher, now) == now
    with Session(fresh_engine) as s, statements(fresh_engine) as sql:
        assert [R.graph_version(s) for _ in range(5)] == [now] * 5
    assert sql == []


def test_a_committed_load_reaches_the_next_routes(
    watcher: loads.LoadWatcher, fresh_engine: Engine
) -> None:
    old = committed_version(fresh_engine)
    with Session(fresh_engine) as s:
        R.get_graph(s)
        s.commit()
    with Session(fresh_engine) as s, s.begin():
        new = s.execute(
            text("""insert into data_loads (kind, fmt, path, sha256, rows_read, inserted,
                    updated, unchanged, rejected)
                    values ('roads', 'test', 'road-load-notify', :h, 0, 0, 0, 0, 0)
                    returning id"""),
            {"h": "0" * 64},
        ).scalar_one()
    try:
        assert wait_version(watcher, new) == new  # notified after the commit
        with Session(fresh_engine) as s:
            with statements(fresh_engine) as sql:
                assert R.graph_version(s) == new
            assert sql == []
            first = R.find_route(s, origin=A, destination=B)  # answers at once, starts a rebuild
            s.commit()
            assert first["graph_version"] in (old, new)
            R.wait_for_rebuild(timeout=DEADLINE_S * 3)
            again = R.find_route(s, origin=A, destination=B)
            assert again["graph_version"] == new
            assert again["length_m"] == pytest.approx(first["length_m"])
    finally:
        with Session(fresh_engine) as s, s.begin():
            s.execute(text("delete from data_loads where id = :i"), {"i": new})
        assert wait_version(watcher, old) == old


def test_a_callers_own_uncommitted_load_is_read_from_the_database(
    watcher: loads.LoadWatcher, fresh_engine: Engine
) -> None:
    """A session inside a transaction (a loader, a test) sees its own load: the notified
    counter (committed state only) is not used for it."""
    with fresh_engine.connect() as conn, conn.begin() as tx:
        s = Session(bind=conn)
        new = s.execute(
            text("""insert into data_loads (kind, fmt, path, sha256, rows_read, inserted,
                    updated, unchanged, rejected)
                    values ('roads', 'test', 'uncommitted', :h, 0, 0, 0, 0, 0) returning id"""),
            {"h": "1" * 64},
        ).scalar_one()
        assert R.graph_version(s) == new
        assert watcher.version != new
        tx.rollback()
