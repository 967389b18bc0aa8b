"""One real PostGIS per test session; each test runs in a transaction that is rolled back.

The session database is created fresh (``goldentime_test_<pid>``) on the embedded cluster, or on
the server of ``DATABASE_URL`` when that is set, migrated with Alembic, loaded once with the
bundled sample data, and dropped at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"

# live server + headless Chromium fixtures (live_server, live_token, chromium, browser_page)
from tests.browser import (  # noqa: E402, F401
    browser_page,
    chromium,
    live_login,
    live_server,
    live_token,
)


def _test_url() -> str:
    base = os.environ.get("DATABASE_URL") or os.environ.get("GOLDENTIME_DATABASE_URL")
    if base:
        from geo.db import database_url

        os.environ["GOLDENTIME_DATABASE_URL"] = base
        base = database_url()
    else:
        from geo import embedded

        base = embedded.start().url()
    name = f"goldentime_test_{os.getpid()}"
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    url = _test_url()
    os.environ.pop("DATABASE_URL", None)
    os.environ["GOLDENTIME_DATABASE_URL"] = url
    os.environ.setdefault("GOLDENTIME_SECRET_KEY", "test-secret-key-with-enough-length-0123456789")
    # tests change users inside rolled-back transactions, which never NOTIFY: no token-check
    # memo (tests/test_auth_cache.py tests it with committed changes)
    os.environ["GOLDENTIME_AUTH_CACHE_S"] = "0"
    # no background warm-ups (api/warmup.py) racing the tests; tests/test_warmup.py runs them
    os.environ.setdefault("GOLDENTIME_WARMUP", "0")
    from geo.settings import get_settings

    get_settings.cache_clear()
    config._goldentime_url = url  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    url = getattr(config, "_goldentime_url", None)
    if url and not os.environ.get("GOLDENTIME_KEEP_TEST_DB"):
        from geo.db import get_engine
        from geo.embedded import drop_database

        get_engine.cache_clear()
        try:
            drop_database(url)
        except Exception as e:  # leave a note, never fail the run on cleanup
            print(f"could not drop test database: {e}")


@pytest.fixture(scope="session")
def db_url() -> str:
    return os.environ["GOLDENTIME_DATABASE_URL"]


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    from geo.db import get_engine
    from geo.schema import migrate

    migrate(db_url)
    eng = get_engine()
    yield eng


@pytest.fixture(scope="session")
def sample_loaded(engine: Engine) -> dict[str, object]:
    """Load the bundled sample data once per test session (committed); returns the load reports."""
    from geo.load.sample import load_sample

    return load_sample(engine=engine, quiet=True)


@pytest.fixture
def connection(engine: Engine, sample_loaded: dict[str, object]) -> Iterator[Connection]:
    conn = engine.connect()
    trans = conn.begin()
    try:
        yield conn
    finally:
        trans.rollback()
        conn.close()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    """A session inside the test's outer transaction; ``commit()`` only releases a savepoint."""
    s = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def client(session: Session) -> Iterator[object]:
    """A TestClient whose requests share the test's session (rolled back afterwards)."""
    from fastapi.testclient import TestClient

    from api.deps import get_reader, get_session
    from api.main import app
    from geo.db import SessionReader

    def _override() -> Iterator[Session]:
        yield session
        session.flush()

    app.dependency_overrides[get_session] = _override
    app.dependency_overrides[get_reader] = lambda: SessionReader(session)
    try:
        # from 127.0.0.1 (a registered address of make_user's users): the gate checks the
        # address on every authenticated route
        with TestClient(app, client=("127.0.0.1", 50000)) as c:
            yield c
    finally:
        app.dependency_overrides.pop(get_session, None)
        app.dependency_overrides.pop(get_reader, None)


@pytest.fixture
def fresh_engine(engine: Engine) -> Engine:
    """An engine on the test database for tests that must commit (e.g. loader transactions)."""
    return create_engine(os.environ["GOLDENTIME_DATABASE_URL"])


# --- users and authenticated clients (access rules: geo/access.py) -------------------------------

TEST_PASSWORD = "test-password"


@pytest.fixture
def make_user(session: Session) -> Any:
    """Factory: ``make_user(name, role="police", agency="Daejeon Yuseong Police",
    cidrs=("127.0.0.1/32",), disabled=False)`` creates a user in the test's transaction."""
    from geo.access.users import create_user

    def _make(
        name: str,
        role: str = "police",
        agency: str | None = "Daejeon Yuseong Police",
        cidrs: Any = ("127.0.0.1/32", "::1/128"),
        *,
        password: str = TEST_PASSWORD,
        disabled: bool = False,
    ) -> Any:
        return create_user(
            session,
            username=name,
            password=password,
            role=role,
            agency=agency,
            cidrs=list(cidrs),
            disabled=disabled,
        )

    return _make


@pytest.fixture
def auth_client(session: Session) -> Iterator[Any]:
    """Factory: ``auth_client(user, ip="127.0.0.1")`` gives a TestClient sharing the test's session
    whose requests carry ``user``'s bearer token and come from ``ip``."""
    from fastapi.testclient import TestClient

    from api.deps import get_reader, get_session
    from api.main import app
    from geo.access.tokens import create_token
    from geo.db import SessionReader

    def _override() -> Iterator[Session]:
        yield session
        session.flush()

    clients: list[Any] = []

    def _make(user: Any, ip: str = "127.0.0.1") -> Any:
        headers = {}
        if user is not None:
            headers["Authorization"] = f"Bearer {create_token(user)[0]}"
        c = TestClient(app, client=(ip, 50000), headers=headers)
        clients.append(c)
        return c

    app.dependency_overrides[get_session] = _override
    app.dependency_overrides[get_reader] = lambda: SessionReader(session)
    try:
        yield _make
    finally:
        for c in clients:
            c.close()
        app.dependency_overrides.pop(get_session, None)
        app.dependency_overrides.pop(get_reader, None)


async def until(cond: Any, timeout_s: float = 10.0) -> None:
    """Wait for ``cond()`` (a notification to arrive, a memo to fill); a guard against waiting
    forever, not a speed check."""
    import asyncio

    for _ in range(int(timeout_s / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def own_address(block: int) -> str:
    """An address of its own per test, in ``10.<block..block+9>.x.y`` (a block per test file):
    the 401 audit budget is per address and minute."""
    import uuid

    n = uuid.uuid4().int
    return f"10.{block + n % 10}.{(n >> 8) % 256}.{(n >> 16) % 250 + 1}"


@pytest.fixture
def video_dir(tmp_path: Path) -> Iterator[Path]:
    """The settings' video folder moved to this test's temporary folder (and put back)."""
    from geo.settings import get_settings

    old = get_settings().video_dir
    get_settings().video_dir = tmp_path / "video"
    try:
        yield tmp_path / "video"
    finally:
        get_settings().video_dir = old


def run_async(coro: Any) -> Any:
    """Run a coroutine to completion in a fresh event loop on its own thread (the sync
    Playwright fixtures keep an event loop running on the main thread)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as ex:
        return ex.submit(asyncio.run, coro).result()
