"""The FastAPI application: routers discovered from ``api/routes``, local static assets, one error map."""

from __future__ import annotations

import gc
import importlib
import logging
import pkgutil
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import api.routes
from api import errors
from api.deps import token_claims
from geo import __version__
from geo.settings import get_settings

STATIC_DIR = Path(__file__).resolve().parent.parent / "maps" / "static"


_TOKEN_IN_QUERY = re.compile(r"([?&](?:access_token|mt)=)[^&\s\"]+")


class RedactTokens(logging.Filter):
    """Blank ``mt=`` (the media tokens of video links, which ``<img src>`` carries in the query
    string) and ``access_token=`` (refused, but clients may still send it) in access-log lines:
    a log file must not hold usable tokens."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                _TOKEN_IN_QUERY.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        elif isinstance(record.msg, str):
            record.msg = _TOKEN_IN_QUERY.sub(r"\1[redacted]", record.msg)
        return True


logging.getLogger("uvicorn.access").addFilter(RedactTokens())


def _origin(url: str | None) -> str | None:
    """``scheme://host[:port]`` of a tile URL template (``{s}`` subdomains become ``*``)."""
    if not url:
        return None
    parts = urlsplit(url.replace("{s}", "*"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


@lru_cache(maxsize=8)
def content_security_policy(*, inline: bool, tile_url: str | None) -> str:
    """The CSP of an answer: only this machine, plus the configured tile host for images (and
    fetches: MapLibre loads raster tiles with fetch). ``inline`` adds ``'unsafe-inline'`` to
    scripts and styles, for folium's map pages and Swagger UI, whose pages are inline scripts;
    the console and every other answer get none."""
    tiles = _origin(tile_url)
    extra = f" {tiles}" if tiles else ""
    unsafe = " 'unsafe-inline'" if inline else ""
    return (
        "default-src 'self'; "
        f"script-src 'self'{unsafe}; "
        f"style-src 'self'{unsafe}; "
        f"img-src 'self' data: blob:{extra}; "
        f"connect-src 'self'{extra}; "
        "worker-src 'self' blob:; "
        "frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'"
    )


class SecurityHeaders:
    """Security headers on every answer (pure ASGI, so streamed answers pass untouched):
    CSP (:func:`content_security_policy`), ``nosniff``, ``no-referrer``, ``X-Frame-Options:
    DENY``, and ``Cache-Control: no-store`` on ``/api`` answers that set no Cache-Control."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                html = h.get("content-type", "").startswith("text/html")
                inline = html and (path == "/docs" or path.startswith("/api/"))
                if "content-security-policy" not in h:
                    h["Content-Security-Policy"] = content_security_policy(
                        inline=inline, tile_url=get_settings().tile_url
                    )
                h.setdefault("X-Content-Type-Options", "nosniff")
                h.setdefault("Referrer-Policy", "no-referrer")
                h.setdefault("X-Frame-Options", "DENY")
                if path.startswith("/api") and "cache-control" not in h:
                    h["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


#: Young-generation GC threshold of a worker. A request allocates thousands of short-lived
#: dicts (rows, features); Python's default (700) ran a collection several times per request.
GC_GEN0_THRESHOLD = 50_000


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    gc.collect()
    gc.freeze()  # the app's long-lived objects leave the collector's scans
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)
    from api.warmup import start_warmups

    start_warmups()  # a background thread: startup never waits for it
    yield


def create_app() -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan,
        title="goldentime",
        version=__version__,
        description="Open CCTV control-centre API: cameras, incidents, lawful video access, "
        "route tracing and coverage planning.",
        docs_url=None,
        redoc_url=None,
    )
    errors.install(app)
    app.add_middleware(SecurityHeaders)
    mods = [
        importlib.import_module(f"api.routes.{m.name}")
        for m in pkgutil.iter_modules(api.routes.__path__)
    ]
    # routes are matched in order: a module may ask to come first (ROUTE_ORDER, default 100),
    # as the responders' hot path does; ties by module name
    mods.sort(key=lambda mod: (getattr(mod, "ROUTE_ORDER", 100), mod.__name__))
    for mod in mods:
        if hasattr(mod, "router"):
            # every /api route needs a token, except routers that declare PUBLIC (the login)
            guarded = not getattr(mod, "PUBLIC", False) and any(
                getattr(r, "path", "").startswith("/api") for r in mod.router.routes
            )
            deps = [Depends(token_claims)] if guarded else None
            app.include_router(mod.router, dependencies=deps)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


app = create_app()
