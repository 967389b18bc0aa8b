"""The workflows that grant video: an officer's one-click video request, an operator's push,
the approval loop for requests beyond policy, sharing an incident with another agency, the
automation rules run on registration, and revocation. Each checks the rules through
:mod:`geo.access.gate` (what may be granted: :mod:`geo.access.policy`), creates or changes a
share (:mod:`geo.access.shares`) and writes its audit record in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.access import policy
from geo.access.audit import audit
from geo.access.gate import authorize_decision, authorize_incident, require
from geo.access.roles import CENTRE_ROLES, roles_for
from geo.access.shares import (
    camera_links,
    create_share,
    default_window,
    get_share,
    revoke_share,
    share_dict,
    share_status,
)
from geo.access.users import find_agency, find_user
from geo.errors import Conflict, GoldentimeError, InvalidInput, NotFound
from geo.incidents import create_incident, get_incident, update_incident
from geo.models.access import Agency, Share, User
from geo.models.policy import IncidentShare
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


# --- automation rules on registration ----------------------------------------------------------


def run_registration_rules(
    session: Session, *, user: User, client_ip: str, incident: dict[str, Any]
) -> list[dict[str, Any]]:
    """Run the policy's enabled automation rules for an incident ``user`` just registered.

    Each rule acts as ``user`` through the same gate and policy as a click would (audited with
    ``detail.automation``). A rule that cannot act (no camera near, refused) leaves the
    registration standing and reports ``error`` instead of a share.
    """
    out: list[dict[str, Any]] = []
    for rule in policy.rules_on_registration(incident, user):
        try:
            with session.begin_nested():
                res = request_video(
                    session,
                    user=user,
                    client_ip=client_ip,
                    incident_id=incident["id"],
                    automation=rule.name,
                )
        except GoldentimeError as e:
            out.append({"rule": rule.name, "error": e.to_dict()})
            continue
        out.append(
            {
                "rule": rule.name,
                "share": res["share"],
                "cameras": res["cameras"],
                "decision": res["decision"],
            }
        )
    return out


# --- the approval loop ---------------------------------------------------------------------------

#: Approval states a supervisor may list.
DECISION_STATES = ("pending", "approved", "refused")


def list_requests(
    session: Session,
    *,
    user: User,
    client_ip: str,
    approval: str = "pending",
    limit: int = 200,
) -> list[Share]:
    """Video requests by approval state for a supervisor (permission ``approve_request``),
    oldest first for ``pending`` (the queue; revoked and expired ones left out), newest first
    otherwise."""
    if approval not in DECISION_STATES:
        raise InvalidInput(
            f"status must be one of {', '.join(DECISION_STATES)}, got {approval!r}",
            field="status",
        )
    require(
        session,
        user=user,
        client_ip=client_ip,
        roles=roles_for("approve_request"),
        action="request_review",
    )
    q = select(Share).where(Share.kind == "request", Share.approval == approval)
    if approval == "pending":
        q = q.where(Share.revoked_at.is_(None), Share.expires_at > now_utc())
        q = q.order_by(Share.granted_at, Share.id)
    else:
        q = q.order_by(Share.approved_at.desc(), Share.id.desc())
    return list(session.execute(q.limit(limit)).scalars())


def _pending_share(
    session: Session, share_id: int, *, user: User, client_ip: str, action: str
) -> Share:
    share = get_share(session, share_id)
    authorize_decision(session, user=user, client_ip=client_ip, share=share, action=action)
    st = share_status(share)
    if share.approval != "pending":
        raise Conflict(
            f"share {share.id} is not awaiting approval (approval: {share.approval})",
            field="share_id",
        )
    if st != "awaiting_approval":
        raise Conflict(f"share {share.id} is {st}: nothing to decide", field="share_id")
    return share


def _decision_reason(reason: str | None) -> str:
    why = (reason or "").strip()
    if not why:
        raise InvalidInput("a decision needs a reason", field="reason")
    return why


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def approve_request(
    session: Session,
    *,
    user: User,
    client_ip: str,
    share_id: int,
    reason: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
    live: bool | None = None,
) -> Share:
    """Approve a pending request (audited ``request_approve`` with approver and reason).

    The approver grants what was asked, or narrows it (``start``/``end`` inside the requested
    window, an earlier ``expires_at``, ``live=False``); the granted window must end by now. An
    approver may not decide their own request.
    """
    why = _decision_reason(reason)
    share = _pending_share(
        session, share_id, user=user, client_ip=client_ip, action="request_approve"
    )
    s, e = check_window(start, end)
    exp = aware(expires_at, field="expires_at")
    requested = {
        "start": _iso(share.past_start),
        "end": _iso(share.past_end),
        "expires_at": _iso(share.expires_at),
        "live": share.live,
    }
    g_start, g_end, g_exp, g_live = policy.check_approval(
        share, start=s, end=e, expires_at=exp, live=live
    )
    now = now_utc()
    share.past_start, share.past_end = g_start, g_end
    share.expires_at, share.live = g_exp, g_live
    share.approval = "approved"
    share.approved_by_user_id = user.id
    share.approved_at = now
    share.approval_reason = why
    session.flush()
    session.refresh(share, ["approved_by"])
    audit(
        session,
        action="request_approve",
        user=user,
        client_ip=client_ip,
        share_id=share.id,
        incident_id=share.incident_id,
        case_number=share.case_number,
        camera_ids=share.camera_ids,
        start=g_start,
        end=g_end,
        reason=why,
        detail={
            "requested_by": share.granted_by.username,
            "requested": requested,
            "granted": {
                "start": _iso(g_start),
                "end": _iso(g_end),
                "expires_at": _iso(g_exp),
                "live": g_live,
            },
            "policy_reasons": list(share.policy_reasons or []),
        },
    )
    return share


def refuse_request(
    session: Session, *, user: User, client_ip: str, share_id: int, reason: str
) -> Share:
    """Refuse a pending request (audited ``request_refuse`` with approver and reason); the share
    then opens nothing, ever."""
    why = _decision_reason(reason)
    share = _pending_share(
        session, share_id, user=user, client_ip=client_ip, action="request_refuse"
    )
    share.approval = "refused"
    share.approved_by_user_id = user.id
    share.approved_at = now_utc()
    share.approval_reason = why
    session.flush()
    session.refresh(share, ["approved_by"])
    audit(
        session,
        action="request_refuse",
        user=user,
        client_ip=client_ip,
        share_id=share.id,
        incident_id=share.incident_id,
        case_number=share.case_number,
        camera_ids=share.camera_ids,
        start=share.past_start,
        end=share.past_end,
        reason=why,
        detail={
            "requested_by": share.granted_by.username,
            "policy_reasons": list(share.policy_reasons or []),
        },
    )
    return share


# --- sharing an incident with another agency ------------------------------------------------------


def incident_agencies(session: Session, incident_id: int) -> list[str]:
    """Names of the agencies an incident is shared with, by name."""
    q = (
        select(Agency.name)
        .join(IncidentShare, IncidentShare.agency_id == Agency.id)
        .where(IncidentShare.incident_id == incident_id)
        .order_by(Agency.name)
    )
    return list(session.execute(q).scalars())


def share_incident(
    session: Session,
    *,
    user: User,
    client_ip: str,
    incident_id: int,
    agency: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Share an incident with ``agency`` so its officers may request video on it: by the owning
    agency or the centre (audited ``incident_share``; refusals audited). Sharing again is a
    no-op; sharing with the owner is a :class:`Conflict`."""
    incident = get_incident(session, incident_id)
    authorize_incident(
        session, user=user, client_ip=client_ip, incident=incident, action="incident_share"
    )
    target = find_agency(session, agency)
    if target.id == incident.get("agency_id"):
        raise Conflict(f"incident {incident_id} already belongs to {agency!r}", field="agency")
    created = session.get(IncidentShare, (incident_id, target.id)) is None
    if created:
        session.add(
            IncidentShare(
                incident_id=incident_id,
                agency_id=target.id,
                shared_by_user_id=user.id,
                reason=(reason or "").strip() or None,
            )
        )
        session.flush()
        audit(
            session,
            action="incident_share",
            user=user,
            client_ip=client_ip,
            incident_id=incident_id,
            case_number=incident["case_number"],
            reason=(reason or "").strip() or None,
            detail={"agency": target.name},
        )
    return {
        "incident_id": incident_id,
        "agency": target.name,
        "created": created,
        "shared_with": incident_agencies(session, incident_id),
    }


# --- registering and changing incidents ----------------------------------------------------------


def register_incident(
    session: Session, *, user: User, client_ip: str, **fields: Any
) -> dict[str, Any]:
    """Register an incident (permission ``incident_write``, registered address; audited
    ``incident_create``), owned by ``user``'s agency, then run the automation rules.

    Returns ``{"incident": record, "automation": [rule results]}``
    (see :func:`run_registration_rules`).
    """
    require(
        session,
        user=user,
        client_ip=client_ip,
        roles=roles_for("incident_write"),
        action="incident_create",
    )
    rec = create_incident(session, **fields, created_by=user.username, agency_id=user.agency_id)
    audit(
        session,
        action="incident_create",
        user=user,
        client_ip=client_ip,
        incident_id=rec["id"],
        case_number=rec["case_number"],
        detail={"kind": rec["kind"], "priority": rec["priority"]},
    )
    auto = run_registration_rules(session, user=user, client_ip=client_ip, incident=rec)
    return {"incident": rec, "automation": auto}


def change_incident(
    session: Session, *, user: User, client_ip: str, incident_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change an incident (e.g. close it): only its agency or the centre, from a registered
    address (refusals audited); audited ``incident_update`` with the changes."""
    incident = get_incident(session, incident_id)
    authorize_incident(
        session, user=user, client_ip=client_ip, incident=incident, action="incident_update"
    )
    rec = update_incident(session, incident_id, changes)
    audit(
        session,
        action="incident_update",
        user=user,
        client_ip=client_ip,
        incident_id=incident_id,
        case_number=rec["case_number"],
        detail={"changes": changes},
    )
    return rec
