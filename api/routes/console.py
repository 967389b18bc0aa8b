"""``/``: the console, one offline web application (``maps/static/console``) over the public API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

CONSOLE_INDEX = Path(__file__).resolve().parents[2] / "maps" / "static" / "console" / "index.html"


@router.get("/")
def console() -> FileResponse:
    """The console's page (its scripts and styles are files under ``/static/console``)."""
    return FileResponse(
        CONSOLE_INDEX, media_type="text/html", headers={"Cache-Control": "no-store"}
    )
