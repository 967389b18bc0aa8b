"""The workflows that grant video: an officer's one-click video request, an operator's push, and
revocation. Each checks the rules through :mod:`geo.access`, creates or changes a share
(:mod:`geo.shares`) and writes its audit record in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from geo.access.audit import audit
from geo.access.gate import require
from geo.access.roles import CENTRE_ROLES, REQUEST_ROLES
from geo.access.shares import camera_links, create_share, default_window, revoke_share, share_dict
from geo.access.users import find_agency, find_user
from geo.errors import Conflict, InvalidInput, NotFound
from geo.incidents import get_incident
from geo.models.access import Share, User
from geo.settings import get_settings
from geo.times import check_window


def _open_incident(session: Session, incident_id: int) -> dict[str, Any]:
    incident = get_incident(session, incident_id)
    if incident["status"] != "open":
        raise Conflict(
            f"incident {incident_id} is closed: no new video shares", field="incident_id"
        )
    return incident


def _window(
    incident: dict[str, Any], start: dt.datetime | None, end: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    if start is None and end is None:
        return default_window(incident["occurred_at"])
    if start is None or end is None:
        raise InvalidInput(
            "give both start and end of the recorded window, or neither",
            field="start" if start is None else "end",
        )
    s, e = check_window(start, end)
    assert s is not None and e is not None
    return s, e


def request_video(
    session: Session,
    *,
    user: User,
    client_ip: str,
    incident_id: int,
    k: int | None = None,
    reason: str | None = None,
    live: bool = True,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The one-click video request: the ``k`` best cameras at the incident, shared to the requester.

    Only police, fire and disaster users from a registered address may ask (refusals audited).
    The share carries live view and the recorded window (default the ``share_past_window_s``
    before the incident), expires after ``share_ttl_s``; the reply lists the cameras with
    distance, bearing, view flags and their video links.
    """
    from geo.nearest import nearest_cameras

    incident = _open_incident(session, incident_id)
    k = get_settings().video_request_k if k is None else k
    ctx = {"incident_id": incident_id, "case_number": incident["case_number"]}
    require(
        session, user=user, client_ip=client_ip, roles=REQUEST_ROLES, action="video_request", **ctx
    )
    if not 1 <= k <= 50:
        raise InvalidInput(f"k must be within 1..50, got {k}", field="k")
    past_start, past_end = _window(incident, start, end)
    cams = nearest_cameras(session, lat=incident["lat"], lon=incident["lon"], k=k)
    if not cams:
        raise NotFound("no camera near the incident", field="incident_id")
    why = (reason or "").strip() or (
        f"{incident['kind']} incident {incident['case_number'] or incident_id}: video request"
    )
    share = create_share(
        session,
        kind="request",
        granted_by=user,
        to_user=user,
        camera_ids=[c["id"] for c in cams],
        reason=why,
        incident_id=incident_id,
        case_number=incident["case_number"],
        live=live,
        past_start=past_start,
        past_end=past_end,
        expires_at=expires_at,
    )
    audit(
        session,
        action="video_request",
        user=user,
        client_ip=client_ip,
        share_id=share.id,
        camera_ids=share.camera_ids,
        start=past_start,
        end=past_end,
        reason=why,
        detail={"k": k, "live": live, "expires_at": share.expires_at},
        **ctx,
    )
    for c in cams:
        c["links"] = camera_links(c["id"], start=past_start, end=past_end)
    return {"share": share_dict(share), "cameras": cams, "incident": incident}


def push_share(
    session: Session,
    *,
    user: User,
    client_ip: str,
    incident_id: int,
    camera_ids: list[int] | None = None,
    k: int | None = None,
    to_user: str | None = None,
    to_agency: str | None = None,
    reason: str,
    live: bool = True,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
    face_blur: bool | None = None,
) -> Share:
    """An operator pushes cameras of an incident to a user or an agency (audited ``share_push``).

    Without ``camera_ids`` the ``k`` best cameras at the incident are pushed.
    """
    incident = _open_incident(session, incident_id)
    ctx = {"incident_id": incident_id, "case_number": incident["case_number"]}
    require(session, user=user, client_ip=client_ip, roles=CENTRE_ROLES, action="share_push", **ctx)
    if (to_user is None) == (to_agency is None):
        raise InvalidInput("give exactly one of to_user and to_agency", field="to_user")
    recipient = None
    if to_user is not None:
        recipient = find_user(session, to_user)
        if recipient is None:
            raise NotFound(f"user {to_user!r} does not exist", field="to_user")
    agency = find_agency(session, to_agency) if to_agency is not None else None
    if not camera_ids:
        from geo.nearest import nearest_cameras

        kk = get_settings().video_request_k if k is None else k
        if not 1 <= kk <= 50:
            raise InvalidInput(f"k must be within 1..50, got {kk}", field="k")
        camera_ids = [
            c["id"]
            for c in nearest_cameras(session, lat=incident["lat"], lon=incident["lon"], k=kk)
        ]
    past_start, past_end = _window(incident, start, end)
    share = create_share(
        session,
        kind="push",
        granted_by=user,
        to_user=recipient,
        to_agency=agency,
        camera_ids=camera_ids,
        reason=reason,
        incident_id=incident_id,
        case_number=incident["case_number"],
        live=live,
        past_start=past_start,
        past_end=past_end,
        expires_at=expires_at,
        face_blur=face_blur,
    )
    audit(
        session,
        action="share_push",
        user=user,
        client_ip=client_ip,
        share_id=share.id,
        camera_ids=share.camera_ids,
        start=past_start,
        end=past_end,
        reason=share.reason,
        detail={
            "to_user": to_user,
            "to_agency": to_agency,
            "live": live,
            "face_blur": share.face_blur,
            "expires_at": share.expires_at,
        },
        **ctx,
    )
    return share


def revoke(
    session: Session, *, user: User, client_ip: str, share: Share, reason: str | None = None
) -> Share:
    """Revoke a share (audited ``share_revoke``): by whoever granted it, or the control centre."""
    ctx: dict[str, Any] = {
        "share_id": share.id,
        "incident_id": share.incident_id,
        "case_number": share.case_number,
        "camera_ids": share.camera_ids,
    }
    if share.granted_by_user_id != user.id:
        require(
            session,
            user=user,
            client_ip=client_ip,
            roles=CENTRE_ROLES,
            action="share_revoke",
            check_ip=False,
            **ctx,
        )
    revoke_share(session, share=share, by=user, reason=reason)
    audit(session, action="share_revoke", user=user, client_ip=client_ip, reason=reason, **ctx)
    return share
