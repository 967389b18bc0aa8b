"""``GET /api/incidents/{id}/map``: the responder's incident map (HTML, see :mod:`maps.incident`).

Behind the token like every ``/api`` route: a browser opens it with the console's session
cookie (``POST /api/auth/session``), a client with the ``Authorization`` header. The page never
holds the bearer token: its video links are media links (``?mt=``, minutes, one camera and one
share, :func:`geo.access.shares.camera_links`) for the viewer.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.deps import CurrentUser, SessionDep
from api.validation import Int32Id
from geo.nearest import MAX_K
from geo.settings import get_settings
from maps.incident import build_incident_map

router = APIRouter(prefix="/api/incidents", tags=["incidents"])


@router.get("/{incident_id:int}/map", response_class=HTMLResponse)
def incident_map(
    incident_id: Int32Id,
    session: SessionDep,
    user: CurrentUser,
    k: int | None = Query(
        None, ge=1, le=MAX_K, description="how many cameras (default: the video request's k)"
    ),
) -> HTMLResponse:
    """The incident, its k best cameras with their view cones, distances and video links."""
    page = build_incident_map(
        session, incident_id=incident_id, k=k or get_settings().video_request_k, user=user
    )
    return HTMLResponse(page)
