"""``GET /health``: is the database reachable, and what does it hold."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from geo.db import new_session

router = APIRouter(tags=["health"])

_COUNTED = ("cameras", "incidents", "road_nodes", "road_edges", "buildings")


@router.get("/health")
def health() -> Any:
    """Database reachable, PostGIS/pgRouting versions and row counts; 503 when the DB is down."""
    try:
        with new_session() as s:
            counts = {
                t: s.execute(text(f"select count(*) from {t}")).scalar_one() for t in _COUNTED
            }
            postgis = s.execute(text("select postgis_lib_version()")).scalar_one()
            pgr = s.execute(text("select pgr_version()")).scalar_one()
    except Exception as e:  # the DB being down is exactly what this endpoint reports
        return JSONResponse(
            status_code=503,
            content={"status": "unavailable", "database": f"unreachable: {type(e).__name__}"},
        )
    return {
        "status": "ok",
        "database": "ok",
        "postgis": postgis,
        "pgrouting": pgr,
        "counts": counts,
    }
