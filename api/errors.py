"""The one place domain errors become HTTP responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from geo.errors import GoldentimeError


def install(app: FastAPI) -> None:
    @app.exception_handler(GoldentimeError)
    async def _domain(request: Request, exc: GoldentimeError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_hint == 401 else None
        if "retry_after_s" in exc.detail:
            headers = {"Retry-After": str(int(exc.detail["retry_after_s"]))}
        return JSONResponse(
            status_code=exc.status_hint, content={"detail": exc.to_dict()}, headers=headers
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
            status_code=422,
            content={
                "detail": {
                    "error": "InvalidInput",
                    "field": first["field"],
                    "message": f"{first['field']}: {first['message']}",
                    "errors": errors,
                }
            },
        )
