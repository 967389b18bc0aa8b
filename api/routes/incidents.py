"""``/api/incidents``: register, update and list incidents (GeoJSON); video requests and pushes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ClientIP, CurrentUser, SessionDep
from api.geojson import feature_collection, point_feature, public_camera
from api.validation import BBoxStr, Int32Id, Offset, SafeStr, SafeText, SaneDatetime
from geo import incidents
from geo.access import incident_workflows
from geo.access import requests as video_requests
from geo.access.shares import share_dict
from geo.bbox import BBox

router = APIRouter(prefix="/api/incidents", tags=["incidents"])

#: An incident id as the path carries it (within the column's range).
IncidentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("")
def list_incidents(
    session: SessionDep,
    bbox: BBoxStr | None = Query(None, description="min_lon,min_lat,max_lon,max_lat"),
    start: SaneDatetime | None = Query(None, description="occurred_at >= start (ISO 8601)"),
    end: SaneDatetime | None = Query(None, description="occurred_at < end (ISO 8601)"),
    kind: SafeStr | None = Query(None),
    status: SafeStr | None = Query(None),
    limit: int = Query(1000, ge=1, le=10000),
    offset: Offset = 0,
) -> dict[str, Any]:
    """Incidents as a GeoJSON FeatureCollection, newest first."""
    box = BBox.parse(bbox) if bbox else None
    rows, total = incidents.list_incidents(
        session,
        bbox=box,
        start=start,
        end=end,
        kind=kind,
        status=status,
        limit=limit,
        offset=offset,
    )
    return feature_collection(rows, total=total, limit=limit, offset=offset)


@router.get("/{incident_id}")
def get_incident(incident_id: IncidentId, session: SessionDep) -> dict[str, Any]:
    return point_feature(incidents.get_incident(session, incident_id))


class IncidentIn(BaseModel):
    """A new incident. Times without an offset are KST."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["police", "fire", "disaster", "sos", "traffic", "other"]
    lat: float = Field(ge=-90, le=90, description="latitude, EPSG:4326")
    lon: float = Field(ge=-180, le=180, description="longitude, EPSG:4326")
    occurred_at: SaneDatetime | None = Field(None, description="default: now")
    case_number: SafeStr | None = Field(None, max_length=64)
    priority: int = Field(3, ge=1, le=5)
    description: SafeText | None = Field(None, max_length=4000)


class IncidentPatch(BaseModel):
    """Fields to change; ``status`` only moves open -> closed."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["police", "fire", "disaster", "sos", "traffic", "other"] | None = None
    status: Literal["open", "closed"] | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    occurred_at: SaneDatetime | None = None
    case_number: SafeStr | None = Field(None, max_length=64)
    priority: int | None = Field(None, ge=1, le=5)
    description: SafeText | None = Field(None, max_length=4000)


class VideoRequestIn(BaseModel):
    """Options of a video request; every field has a default (one click = empty body)."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(5, ge=1, le=50, description="how many cameras")
    reason: SafeText | None = Field(None, max_length=1000)
    live: bool = True
    start: SaneDatetime | None = Field(
        None,
        description="recorded window start (default: 30 minutes before the incident; policy: "
        "at most 2 h before it without approval)",
    )
    end: SaneDatetime | None = Field(
        None,
        description="recorded window end (default: incident time; policy: at most 1 h after "
        "it and never after now without approval)",
    )
    expires_at: SaneDatetime | None = Field(
        None, description="default: 24 h from now (policy: at most 24 h without approval)"
    )


class ShareWithIn(BaseModel):
    """Share the incident with another agency, whose officers may then request video on it."""

    model_config = ConfigDict(extra="forbid")

    agency: SafeStr = Field(min_length=1, max_length=200)
    reason: SafeText | None = Field(None, max_length=1000)


class ShareIn(BaseModel):
    """An operator's push of an incident's cameras to one user or one agency."""

    model_config = ConfigDict(extra="forbid")

    to_user: SafeStr | None = None
    to_agency: SafeStr | None = None
    camera_ids: list[Int32Id] | None = Field(
        None, max_length=50, description="default: the k best cameras"
    )
    k: int = Field(5, ge=1, le=50)
    reason: SafeText = Field(min_length=1, max_length=1000)
    live: bool = True
    start: SaneDatetime | None = None
    end: SaneDatetime | None = None
    expires_at: SaneDatetime | None = None
    face_blur: bool | None = Field(None, description="default: true for another agency")


@router.post("", status_code=201)
def create_incident(
    body: IncidentIn, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> dict[str, Any]:
    """Register an incident (control centre and officers, from a registered address); audited.

    The incident belongs to the registering user's agency. The policy's automation rules run at
    once (e.g. a priority-1 police incident registered by a police officer makes its video
    request for them): ``automation`` lists each rule's result, and ``share`` is the share the
    first one made (else null).
    """
    out = incident_workflows.register_incident(
        session, user=user, client_ip=ip, **body.model_dump()
    )
    feature = point_feature(out["incident"])
    feature["automation"] = [
        {k: v for k, v in a.items() if k != "cameras"} for a in out["automation"]
    ]
    feature["share"] = next((a["share"] for a in out["automation"] if "share" in a), None)
    return feature


@router.patch("/{incident_id}")
def update_incident(
    incident_id: IncidentId,
    body: IncidentPatch,
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
) -> dict[str, Any]:
    """Change an incident (e.g. close it): its agency or the centre only; audited."""
    rec = incident_workflows.change_incident(
        session,
        user=user,
        client_ip=ip,
        incident_id=incident_id,
        changes=body.model_dump(exclude_unset=True),
    )
    return point_feature(rec)


@router.post("/{incident_id}/share-with")
def share_with(
    incident_id: IncidentId, body: ShareWithIn, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> dict[str, Any]:
    """Share the incident with another agency (its agency or the centre; audited), so that
    agency's officers may request video on it."""
    return incident_workflows.share_incident(
        session,
        user=user,
        client_ip=ip,
        incident_id=incident_id,
        agency=body.agency,
        reason=body.reason,
    )


@router.post(
    "/{incident_id}/video-requests",
    status_code=201,
    responses={
        202: {
            "description": "beyond policy: the share was created awaiting approval and opens "
            "nothing until a supervisor approves it (``decision.reasons`` say why)"
        }
    },
)
def request_video(
    incident_id: IncidentId,
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
    response: Response,
    body: Annotated[VideoRequestIn | None, Body()] = None,
) -> dict[str, Any]:
    """The one-click video request (police, fire, disaster, from a registered address, on their
    agency's incident or one shared with it).

    Answers a FeatureCollection of the chosen cameras (distance, bearing, view flags, video
    links) with the share beside it (``share``: window, expiry, approval) and ``decision``.
    Within policy: 201 and the share is active. Beyond it: 202, the share is
    ``awaiting_approval`` and ``decision.reasons`` say why.
    """
    b = body or VideoRequestIn.model_validate({})
    out = video_requests.request_video(
        session,
        user=user,
        client_ip=ip,
        incident_id=incident_id,
        k=b.k,
        reason=b.reason,
        live=b.live,
        start=b.start,
        end=b.end,
        expires_at=b.expires_at,
    )
    share = out["share"]
    if out["decision"]["approval"] == "pending":
        response.status_code = 202
    return feature_collection(
        [public_camera(_plain(c), user.role) for c in out["cameras"]],
        incident_id=incident_id,
        case_number=share["case_number"],
        share_id=share["id"],
        expires_at=share["expires_at"],
        window=share["window"],
        share=share,
        approval=share["approval"],
        decision=out["decision"],
    )


@router.post("/{incident_id}/shares", status_code=201)
def push_share(
    incident_id: IncidentId, body: ShareIn, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> dict[str, Any]:
    """An operator pushes cameras of this incident to a user or an agency."""
    share = video_requests.push_share(
        session, user=user, client_ip=ip, incident_id=incident_id, **body.model_dump()
    )
    return share_dict(share, user=user)


def _plain(rec: dict[str, Any]) -> dict[str, Any]:
    """Numpy scalars (from the ranking) as plain Python values."""
    out: dict[str, Any] = {}
    for key, v in rec.items():
        out[key] = v.item() if hasattr(v, "item") and not isinstance(v, str | bytes) else v
    return out
