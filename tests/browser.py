"""Reusable fixtures for tests that drive the real server from headless Chromium.

Imported by ``tests/conftest.py``, so any test may ask for:

* ``live_server``: base URL (``http://127.0.0.1:<port>``) of a uvicorn server on a free port in
  8100-8199, running a fresh app (:func:`api.main.create_app`) in a thread against the session's
  test database with the sample data loaded (committed data only: the per-test transaction of
  ``session`` is invisible to it).
* ``live_token``: factory ``live_token(role="police", cidrs=("127.0.0.1/32", "::1/128"))`` ->
  bearer token of a new committed user (unique name) the live server accepts.
* ``live_login``: factory ``live_login(page, role="police", ...)`` -> logs the page's browser in
  as a new committed user through the cookie session (``POST /api/auth/session``).
* ``browser_page``: a :class:`BrowserPage` (Playwright page in Debian's ``/usr/bin/chromium``,
  never a downloaded browser) whose every request leaving 127.0.0.1 is aborted and recorded in
  ``.blocked``; page script errors are collected in ``.errors``.

Tests using them should carry ``@pytest.mark.browser``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PORTS = range(8100, 8200)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def _free_port() -> int:
    """A port in 8100-8199 nobody listens on, starting at a pid-dependent offset."""
    start = os.getpid() % len(PORTS)
    for i in range(len(PORTS)):
        port = PORTS[(start + i) % len(PORTS)]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8100-8199")


@pytest.fixture(scope="session")
def live_server(engine: Any, sample_loaded: Any) -> Iterator[str]:
    """Base URL of a uvicorn server (one worker, in a thread) serving the app on the test DB."""
    import uvicorn

    from api.main import create_app

    app = create_app()  # its own dependency_overrides: TestClient fixtures do not leak in
    for _attempt in range(5):
        port = _free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"live-server-{port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if server.started:
            break
        server.should_exit = True
        thread.join(5)
    else:
        raise RuntimeError("live server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def live_token(engine: Any) -> Callable[..., str]:
    """Factory: a bearer token for a new committed user of ``role`` (unique name per call)."""
    from geo.access.tokens import create_token
    from geo.access.users import create_user
    from geo.db import session_scope

    def _make(
        role: str = "police",
        agency: str | None = "Daejeon Yuseong Police",
        cidrs: tuple[str, ...] = ("127.0.0.1/32", "::1/128"),
    ) -> str:
        with session_scope() as s:
            user = create_user(
                s,
                username=f"live-{role}-{uuid.uuid4().hex[:8]}",
                password=f"pw-{uuid.uuid4().hex}",
                role=role,
                agency=agency,
                cidrs=list(cidrs),
            )
            s.flush()
            return create_token(user)[0]

    return _make


@pytest.fixture
def live_login(live_server: str, engine: Any) -> Callable[..., str]:
    """Factory: ``live_login(page, role="police", agency=..., cidrs=...)`` makes a new committed
    user and logs ``page``'s browser in through ``POST /api/auth/session`` (the console's
    HttpOnly cookie session; no token in any URL); returns the user name."""
    from geo.access.users import create_user
    from geo.db import session_scope

    def _login(
        page: Any,
        role: str = "police",
        agency: str | None = "Daejeon Yuseong Police",
        cidrs: tuple[str, ...] = ("127.0.0.1/32", "::1/128"),
    ) -> str:
        name, password = f"live-{role}-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
        with session_scope() as s:
            create_user(
                s, username=name, password=password, role=role, agency=agency, cidrs=list(cidrs)
            )
        r = page.request.post(
            f"{live_server}/api/auth/session", form={"username": name, "password": password}
        )
        assert r.status == 200, r.text()
        return name

    return _login


@dataclass
class BrowserPage:
    """A page plus what it tried to fetch from off the machine and the script errors it raised."""

    page: Any
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by PyPI Playwright (``playwright install`` is never run)."""
    if not os.path.exists(CHROMIUM) and not shutil.which("chromium"):
        pytest.skip("Debian chromium is not installed (scripts/bootstrap.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[BrowserPage]:
    """A fresh page whose requests to anything but 127.0.0.1 are aborted and counted."""
    context = chromium.new_context()
    page = context.new_page()
    bp = BrowserPage(page=page)

    def _route(route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about") or parts.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            bp.blocked.append(url)
            route.abort()

    page.route("**/*", _route)
    page.on("pageerror", lambda exc: bp.errors.append(str(exc)))
    try:
        yield bp
    finally:
        with contextlib.suppress(Exception):
            context.close()
