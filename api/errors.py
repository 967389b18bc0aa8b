"""The one place domain errors become HTTP responses."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import psycopg
import psycopg_pool
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo.errors import GoldentimeError, Unavailable


class ErrorItem(BaseModel):
    """One problem of a refused request (422 lists each invalid input)."""

    field: str | None = None
    message: str | None = None
    type: str | None = None


class ErrorDetail(BaseModel):
    """What went wrong: the domain error's class, a message, and the input it concerns."""

    error: str
    message: str
    field: str | None = None
    errors: list[ErrorItem] | None = None
    detail: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    """The one error shape of the API: ``{"detail": {"error", "message", "field", ...}}``."""

    detail: ErrorDetail


_ERROR_MEANING = {
    400: "Bad request",
    401: "Missing, forged, expired or disabled token",
    403: "Refused by the access rules (role, registered address, share); audited",
    404: "No such object",
    409: "Conflicts with the current state",
    422: "Invalid input; `field` names it",
    429: "Too many attempts; see Retry-After",
    503: "A dependency (database, video source) is unavailable",
}

#: The error answers every route may give, declared app-wide so the OpenAPI shows their shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {
        "model": ErrorBody,
        "description": text,
        # errors are JSON also on routes whose success is HTML or an image
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for code, text in _ERROR_MEANING.items()
}


#: Database errors that mean "unavailable right now", not a bug: SQLAlchemy's pool timeout,
#: psycopg_pool's PoolTimeout (a psycopg OperationalError), "too many connections", server down.
_DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.TimeoutError,
    sqlalchemy.exc.OperationalError,
    psycopg.OperationalError,
)


def database_unavailable(exc: Exception) -> Unavailable:
    """The domain error (503, ``Retry-After``) for a database that cannot serve right now."""
    inner = getattr(exc, "orig", None) or exc
    busy = isinstance(exc, sqlalchemy.exc.TimeoutError | psycopg_pool.PoolTimeout) or (
        "too many connections" in str(inner) or "too many clients" in str(inner)
    )
    why = "busy: no database connection free" if busy else "unreachable"
    return Unavailable(
        f"database {why}; retry shortly", field="database", retry_after_s=2 if busy else 5
    )


#: Path prefixes of OGC API edges, whose standards answer a malformed parameter with 400 (not
#: 422): ``InvalidInput`` and request validation errors under them become 400.
OGC_PREFIXES = ("/ogc",)


def status_of(request: Request, status: int) -> int:
    """``status``, except 422 (invalid input) under :data:`OGC_PREFIXES`, which is 400."""
    return 400 if status == 422 and request.url.path.startswith(OGC_PREFIXES) else status


def install(app: FastAPI) -> None:
    # declared before the routers are included: each route inherits the error responses (and
    # FastAPI's own 422 shape, which this handler replaces, is no longer advertised)
    app.router.responses = {**ERROR_RESPONSES, **(app.router.responses or {})}

    @app.exception_handler(GoldentimeError)
    async def _domain(request: Request, exc: GoldentimeError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_hint == 401 else None
        if "retry_after_s" in exc.detail:
            headers = {"Retry-After": str(int(exc.detail["retry_after_s"]))}
        return JSONResponse(
            status_code=status_of(request, exc.status_hint),
            content={"detail": exc.to_dict()},
            headers=headers,
        )

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # pool exhausted (no connection within settings.db_pool_timeout_s), too many
        # connections, database down: the caller may retry, it is not a server bug
        return await _domain(request, database_unavailable(exc))

    for exc_class in _DATABASE_UNAVAILABLE:
        app.add_exception_handler(exc_class, _unavailable)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # the framework's own refusals (no such path, unparsable body) in the one error shape
        if isinstance(exc.detail, dict) and "error" in exc.detail:
            content = exc.detail
        else:
            try:
                name = HTTPStatus(exc.status_code).phrase.replace(" ", "")
            except ValueError:
                name = "HTTPError"
            content = {"error": name, "message": str(exc.detail)}
        return JSONResponse(
            status_code=exc.status_code, content={"detail": content}, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")]
            errors.append(
                {"field": ".".join(loc) or None, "message": e.get("msg"), "type": e.get("type")}
            )
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        return JSONResponse(
            status_code=status_of(request, 422),
            content={
                "detail": {
                    "error": "InvalidInput",
                    "field": first["field"],
                    "message": f"{first['field']}: {first['message']}",
                    "errors": errors,
                }
            },
        )
