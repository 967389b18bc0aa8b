"""``/api/incidents``: register, update and list incidents (GeoJSON); video requests and pushes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ClientIP, CurrentUser, SessionDep
from api.geojson import feature_collection, point_feature, public_camera
from geo import incidents
from geo.access import requests as video_requests
from geo.access.audit import audit
from geo.access.gate import require
from geo.access.roles import INCIDENT_WRITE_ROLES
from geo.access.shares import share_dict
from geo.bbox import BBox

router = APIRouter(prefix="/api/incidents", tags=["incidents"])


@router.get("")
def list_incidents(
    session: SessionDep,
    bbox: str | None = Query(None, description="min_lon,min_lat,max_lon,max_lat"),
    start: dt.datetime | None = Query(None, description="occurred_at >= start (ISO 8601)"),
    end: dt.datetime | None = Query(None, description="occurred_at < end (ISO 8601)"),
    kind: str | None = Query(None),
    status: str | None = Query(None),
    limit: int = Query(1000, ge=1, le=10000),
    offset: int = Query(0, ge=0),
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
def get_incident(incident_id: int, session: SessionDep) -> dict[str, Any]:
    return point_feature(incidents.get_incident(session, incident_id))


class IncidentIn(BaseModel):
    """A new incident. Times without an offset are KST."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["police", "fire", "disaster", "sos", "traffic", "other"]
    lat: float = Field(ge=-90, le=90, description="latitude, EPSG:4326")
    lon: float = Field(ge=-180, le=180, description="longitude, EPSG:4326")
    occurred_at: dt.datetime | None = Field(None, description="default: now")
    case_number: str | None = Field(None, max_length=64)
    priority: int = Field(3, ge=1, le=5)
    description: str | None = Field(None, max_length=4000)


class IncidentPatch(BaseModel):
    """Fields to change; ``status`` only moves open -> closed."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["police", "fire", "disaster", "sos", "traffic", "other"] | None = None
    status: Literal["open", "closed"] | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    occurred_at: dt.datetime | None = None
    case_number: str | None = Field(None, max_length=64)
    priority: int | None = Field(None, ge=1, le=5)
    description: str | None = Field(None, max_length=4000)


class VideoRequestIn(BaseModel):
    """Options of a video request; every field has a default (one click = empty body)."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(5, ge=1, le=50, description="how many cameras")
    reason: str | None = Field(None, max_length=1000)
    live: bool = True
    start: dt.datetime | None = Field(
        None, description="recorded window start (default: 30 minutes before the incident)"
    )
    end: dt.datetime | None = Field(
        None, description="recorded window end (default: incident time)"
    )
    expires_at: dt.datetime | None = Field(None, description="default: 24 h from now")


class ShareIn(BaseModel):
    """An operator's push of an incident's cameras to one user or one agency."""

    model_config = ConfigDict(extra="forbid")

    to_user: str | None = None
    to_agency: str | None = None
    camera_ids: list[int] | None = Field(
        None, max_length=50, description="default: the k best cameras"
    )
    k: int = Field(5, ge=1, le=50)
    reason: str = Field(min_length=1, max_length=1000)
    live: bool = True
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    face_blur: bool | None = Field(None, description="default: true for another agency")


@router.post("", status_code=201)
def create_incident(
    body: IncidentIn, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> dict[str, Any]:
    """Register an incident (control centre and officers); audited."""
    require(
        session,
        user=user,
        client_ip=ip,
        roles=INCIDENT_WRITE_ROLES,
        action="incident_create",
        check_ip=False,
    )
    rec = incidents.create_incident(session, **body.model_dump(), created_by=user.username)
    audit(
        session,
        action="incident_create",
        user=user,
        client_ip=ip,
        incident_id=rec["id"],
        case_number=rec["case_number"],
        detail={"kind": rec["kind"]},
    )
    return point_feature(rec)


@router.patch("/{incident_id}")
def update_incident(
    incident_id: int, body: IncidentPatch, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> dict[str, Any]:
    """Change an incident (e.g. close it); audited."""
    require(
        session,
        user=user,
        client_ip=ip,
        roles=INCIDENT_WRITE_ROLES,
        action="incident_update",
        check_ip=False,
        incident_id=incident_id,
    )
    changes = body.model_dump(exclude_unset=True)
    rec = incidents.update_incident(session, incident_id, changes)
    audit(
        session,
        action="incident_update",
        user=user,
        client_ip=ip,
        incident_id=incident_id,
        case_number=rec["case_number"],
        detail={"changes": changes},
    )
    return point_feature(rec)


@router.post("/{incident_id}/video-requests", status_code=201)
def request_video(
    incident_id: int,
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
    body: Annotated[VideoRequestIn | None, Body()] = None,
) -> dict[str, Any]:
    """The one-click video request (police, fire, disaster, from a registered address).

    Answers a FeatureCollection of the chosen cameras (distance, bearing, view flags, video
    links) with the share that now grants them (``share``: window, expiry) beside it.
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
    return feature_collection(
        [public_camera(_plain(c), user.role) for c in out["cameras"]],
        incident_id=incident_id,
        case_number=share["case_number"],
        share_id=share["id"],
        expires_at=share["expires_at"],
        window=share["window"],
        share=share,
    )


@router.post("/{incident_id}/shares", status_code=201)
def push_share(
    incident_id: int, body: ShareIn, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> dict[str, Any]:
    """An operator pushes cameras of this incident to a user or an agency."""
    share = video_requests.push_share(
        session, user=user, client_ip=ip, incident_id=incident_id, **body.model_dump()
    )
    return share_dict(share)


def _plain(rec: dict[str, Any]) -> dict[str, Any]:
    """Numpy scalars (from the ranking) as plain Python values."""
    out: dict[str, Any] = {}
    for key, v in rec.items():
        out[key] = v.item() if hasattr(v, "item") and not isinstance(v, str | bytes) else v
    return out
