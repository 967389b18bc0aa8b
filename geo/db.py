"""Engine and sessions: ``DATABASE_URL`` when set, else the embedded cluster of this checkout."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache
from typing import Any, Protocol, TypeVar, cast

from psycopg.pq import ExecStatus
from sqlalchemy import Engine, RowMapping, create_engine
from sqlalchemy.orm import Session, sessionmaker

from geo.settings import get_settings

T = TypeVar("T")


def database_url() -> str:
    """The SQLAlchemy URL every command uses (psycopg 3 driver)."""
    url = get_settings().database_url
    if url:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    from geo.embedded import cluster

    return cluster().url()


def uses_embedded() -> bool:
    return not get_settings().database_url


@lru_cache
def get_engine(url: str | None = None) -> Engine:
    """One pooled engine per URL for the process. A request waits at most
    ``settings.db_pool_timeout_s`` for a connection (then 503 with Retry-After, api/errors.py)."""
    return create_engine(
        url or database_url(),
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        pool_timeout=get_settings().db_pool_timeout_s,
    )


@lru_cache
def _factory(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


def new_session(url: str | None = None) -> Session:
    return _factory(url)()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error (one transaction)."""
    s = new_session(url)
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise
    finally:
        s.close()


# --- queries as plans: one domain function, a sync and an async driver --------------------------
#
# A hot read path (nearest cameras) is written once as a *plan*: a generator that yields
# ``(statement, params)`` and receives the result rows (mappings), then returns its answer. The
# sync driver runs a plan on a Session (CLI, maps, video requests, tests); the async driver runs
# it on an :class:`AsyncReader` so the API serves it on the event loop without a thread hop
# (docs/benchmarks.md: thread hops and the GIL cost more CPU than the query itself).

Query = tuple[Any, dict[str, Any]]
Plan = Generator[Query, Sequence[RowMapping], T]


def run_plan(session: Session, plan: Plan[T]) -> T:
    """Run a plan on a sync session (its transaction, its connection)."""
    try:
        stmt, params = next(plan)
        while True:
            rows = session.execute(stmt, params).mappings().all()
            stmt, params = plan.send(rows)
    except StopIteration as done:
        return cast(T, done.value)


class AsyncReader(Protocol):
    """What the async driver needs: run one read-only statement, return its rows."""

    async def fetch(self, stmt: Any, params: dict[str, Any]) -> Sequence[RowMapping]: ...


async def arun_plan(reader: AsyncReader, plan: Plan[T]) -> T:
    """Run a plan on an :class:`AsyncReader` (the API's event-loop path)."""
    try:
        stmt, params = next(plan)
        while True:
            rows = await reader.fetch(stmt, params)
            stmt, params = plan.send(rows)
    except StopIteration as done:
        return cast(T, done.value)


class SessionReader:
    """An :class:`AsyncReader` over a sync session (tests share their rolled-back transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def fetch(self, stmt: Any, params: dict[str, Any]) -> Sequence[RowMapping]:
        return self.session.execute(stmt, params).mappings().all()


@lru_cache(maxsize=512)
def driver_sql(sql: str) -> str:
    """A ``text()`` statement's SQL in psycopg's ``%(name)s`` style (compiled once per string)."""
    from sqlalchemy import text
    from sqlalchemy.dialects.postgresql.psycopg import dialect

    return str(text(sql).compile(dialect=dialect()))


#: Execution option of a read-only statement whose rows :class:`ConnectionReader` fetches in
#: binary format (only for statements whose every column type loads the same either way).
BINARY_ROWS = "binary_rows"


class ConnectionReader:
    """An :class:`AsyncReader` over a pooled psycopg connection: autocommit (no BEGIN/COMMIT
    round trips), ``default_transaction_read_only`` (PostgreSQL refuses writes), rows as dicts,
    statements prepared by psycopg after a few uses. The hot API reads skip SQLAlchemy's
    execution layer, which cost more CPU than the query itself (docs/benchmarks.md)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, stmt: Any, params: dict[str, Any]) -> Sequence[Any]:
        sql = driver_sql(stmt.text) if hasattr(stmt, "text") else str(stmt)
        # a statement marked ``.execution_options(binary_rows=True)`` gets its rows in binary
        # format: the same Python values, parsed faster (the nearest KNN: 38 rows x 26 columns)
        get_opts = getattr(stmt, "get_execution_options", None)
        binary = bool(get_opts is not None and get_opts().get(BINARY_ROWS))
        cur = await self.conn.execute(sql, params, binary=binary)
        # whether the statement returned rows, from the result itself: ``cur.description``
        # builds a Column object per field (about 40 us a call for the 26-column KNN rows)
        res = cur.pgresult
        if res is None or res.status != ExecStatus.TUPLES_OK:
            return []
        return await cur.fetchall()


def psycopg_kwargs(url: str | None = None) -> dict[str, Any]:
    """Keyword arguments for ``psycopg.connect`` that reach the database of ``url``."""
    from sqlalchemy.dialects.postgresql.psycopg import dialect
    from sqlalchemy.engine import make_url

    _, kwargs = dialect().create_connect_args(make_url(url or database_url()))
    return dict(kwargs)


def per_loop(registry: dict[str, tuple[Any, Any]], url: str, make: Any) -> tuple[Any, bool]:
    """The object ``registry`` holds for ``url`` in the running event loop, made anew (and
    ``True`` returned) when missing or bound to another loop (tests run several loops)."""
    import asyncio

    loop = asyncio.get_running_loop()
    hit = registry.get(url)
    if hit is not None and hit[0] is loop:
        return hit[1], False
    obj = make()
    registry[url] = (loop, obj)
    return obj, True


_READ_POOLS: dict[str, tuple[Any, Any]] = {}


async def _read_pool(url: str | None = None) -> Any:
    """The process's read-only async pool for ``url`` (opened on first use, in the running loop)."""
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    url = url or database_url()

    def make() -> Any:
        kwargs = psycopg_kwargs(url)
        kwargs.update(
            autocommit=True,
            row_factory=dict_row,
            options="-c default_transaction_read_only=on",
        )
        s = get_settings()
        return AsyncConnectionPool(
            kwargs=kwargs,
            min_size=1,
            max_size=s.read_pool_size,
            timeout=s.db_pool_timeout_s,
            open=False,
        )

    pool, new = per_loop(_READ_POOLS, url, make)
    if new:
        await pool.open()  # no await point before this: no other request sees it unopened
    return pool


async def close_read_pools(timeout_s: float = 5.0) -> None:
    """Close the read-only pools opened in the running event loop (within ``timeout_s`` each).

    A pool left open when its loop ends leaves worker tasks for ``asyncio.run`` to cancel at
    exit, which can hang it (psycopg_pool's workers may miss a cancellation while connecting).
    """
    import asyncio

    loop = asyncio.get_running_loop()
    for url, (owner, pool) in list(_READ_POOLS.items()):
        if owner is loop:
            del _READ_POOLS[url]
            await pool.close(timeout=timeout_s)


@asynccontextmanager
async def read_connection(url: str | None = None) -> AsyncIterator[ConnectionReader]:
    """A pooled read-only connection for one request (the pool is per process and URL)."""
    pool = await _read_pool(url)
    async with pool.connection() as conn:
        yield ConnectionReader(conn)
