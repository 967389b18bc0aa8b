"""The workflows that grant video: an officer's one-click video request, an operator's push,
and revocation (the approval loop: :mod:`geo.access.approvals`; incidents:
:mod:`geo.access.incident_workflows`). Each checks the rules through
:mod:`geo.access.gate` (what may be granted: :mod:`geo.access.policy`), creates or changes a
share (:mod:`geo.access.shares`) and writes its audit record in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from geo.access import policy
from geo.access.audit import audit
from geo.access.gate import authorize_incident, require
from geo.access.roles import CENTRE_ROLES
from geo.access.shares import (
    camera_links,
    create_share,
    default_window,
    revoke_share,
    share_dict,
)
from geo.access.users import find_agency, find_user
from geo.errors import Conflict, InvalidInput, NotFound
from geo.incidents import get_incident
from geo.models.access import Share, User
from geo.settings import get_settings
from geo.times import aware, check_window, now_utc


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
        s, e = default_window(incident["occurred_at"])
        now = now_utc()  # a default never reaches into the future (clock skew of the caller)
        return min(s, now), min(e, now)
    if start is None or end is None:
        raise InvalidInput(
            "give both start and end of the recorded window, or neither",
            field="start" if start is None else "end",
        )
    ws, we = check_window(start, end)
    assert ws is not None and we is not None
    return ws, we


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
    automation: str | None = None,
) -> dict[str, Any]:
    """The one-click video request: the ``k`` best cameras at the incident, shared to the requester.

    Only police, fire and disaster users from a registered address may ask, on their agency's
    incident or one shared with it (refusals audited). The share carries live view and the
    recorded window (default the ``share_past_window_s`` before the incident), expires after
    ``share_ttl_s``. Within policy (:func:`geo.access.policy.evaluate_request`) it opens at
    once; beyond it, it is created ``approval='pending'`` and opens nothing until a supervisor
    approves it. The reply lists the cameras with distance, bearing, view flags and their video
    links, the share, and ``decision`` (approval, reasons, the policy's numbers). ``automation``
    names the rule that made the request on the user's behalf (audited in ``detail``).
    """
    from geo.nearest import nearest_cameras

    incident = _open_incident(session, incident_id)
    k = get_settings().video_request_k if k is None else k
    ctx = {"incident_id": incident_id, "case_number": incident["case_number"]}
    authorize_incident(
        session, user=user, client_ip=client_ip, incident=incident, action="video_request"
    )
    if not 1 <= k <= 50:
        raise InvalidInput(f"k must be within 1..50, got {k}", field="k")
    past_start, past_end = _window(incident, start, end)
    expires = _expiry(expires_at)
    decision = policy.evaluate_request(
        incident=incident,
        user=user,
        start=past_start,
        end=past_end,
        live=live,
        expires_at=expires,
        k=k,
    )
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
        expires_at=expires,
        approval=decision.approval,
        policy_reasons=decision.reasons,
    )
    detail: dict[str, Any] = {
        "k": k,
        "live": live,
        "expires_at": share.expires_at,
        "approval": decision.approval,
    }
    if decision.reasons:
        detail["policy_reasons"] = decision.reasons
    if automation:
        detail["automation"] = automation
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
        detail=detail,
        **ctx,
    )
    for c in cams:
        c["links"] = camera_links(c["id"], start=past_start, end=past_end, user=user, share=share)
    return {
        "share": share_dict(share, user=user),
        "cameras": cams,
        "incident": incident,
        "decision": decision.as_dict(),
    }


def _expiry(expires_at: dt.datetime | None) -> dt.datetime:
    """The requested expiry made aware, defaulting to ``share_ttl_s`` from now."""
    t = aware(expires_at, field="expires_at")
    return t if t is not None else now_utc() + dt.timedelta(seconds=get_settings().share_ttl_s)


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

    Without ``camera_ids`` the ``k`` best cameras at the incident are pushed. A push follows the
    same caps as a request (:mod:`geo.access.policy`); beyond them it is refused (422 naming
    the field), since the centre has no one above it to approve it.
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
    expires = _expiry(expires_at)
    policy.enforce_for_push(
        policy.evaluate_request(
            incident=incident,
            user=user,
            start=past_start,
            end=past_end,
            live=live,
            expires_at=expires,
            k=len(set(camera_ids)),
        )
    )
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
        expires_at=expires,
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
