"""``GET /api/incidents/{id}/map``: the responder's incident map (HTML, see :mod:`maps.incident`).

Behind the token like every ``/api`` route. A browser opening the link cannot send a header, so
the token may come as ``?access_token=`` (read by :func:`api.deps.current_user`); it is then
carried into the map's video links, which the browser also opens without headers.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep
from geo.nearest import MAX_K
from geo.settings import get_settings
from maps.incident import build_incident_map

router = APIRouter(prefix="/api/incidents", tags=["incidents"])


@router.get("/{incident_id:int}/map", response_class=HTMLResponse)
def incident_map(
    incident_id: int,
    request: Request,
    session: SessionDep,
    k: int | None = Query(
        None, ge=1, le=MAX_K, description="how many cameras (default: the video request's k)"
    ),
) -> HTMLResponse:
    """The incident, its k best cameras with their view cones, distances and video links."""
    page = build_incident_map(
        session,
        incident_id=incident_id,
        k=k or get_settings().video_request_k,
        access_token=request.query_params.get("access_token"),
    )
    return HTMLResponse(page)
