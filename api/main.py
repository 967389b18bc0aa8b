"""The FastAPI application: routers discovered from ``api/routes``, local static assets, one error map."""

from __future__ import annotations

import gc
import importlib
import logging
import pkgutil
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

import api.routes
from api import errors
from api.deps import token_claims
from geo import __version__

STATIC_DIR = Path(__file__).resolve().parent.parent / "maps" / "static"


_TOKEN_IN_QUERY = re.compile(r"(access_token=)[^&\s\"]+")


class RedactTokens(logging.Filter):
    """Blank ``access_token=`` in access-log lines: media links (``<img src>``, the map page)
    carry the bearer token in the query string, and a log file must not hold usable tokens."""

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

#: Young-generation GC threshold of a worker. A request allocates thousands of short-lived
#: dicts (rows, features); Python's default (700) ran a collection several times per request.
GC_GEN0_THRESHOLD = 50_000


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    gc.collect()
    gc.freeze()  # the app's long-lived objects leave the collector's scans
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)
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
