"""The approval loop: a video request beyond policy waits as a pending share until an operator
or admin (permission ``approve_request``) approves it, possibly narrowed, or refuses it; each
decision is audited with the approver and the reason. Rules: :mod:`geo.access.policy`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.access import policy
from geo.access.audit import audit
from geo.access.gate import authorize_decision, require
from geo.access.roles import roles_for
from geo.access.shares import (
    get_share,
    share_status,
)
from geo.errors import Conflict, InvalidInput
from geo.models.access import Share, User
from geo.times import aware, check_window, now_utc

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


def _decide(
    session: Session,
    share: Share,
    *,
    user: User,
    client_ip: str,
    approval: str,
    reason: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a supervisor's decision on ``share`` (approver, time, reason) and audit it as
    ``request_approve`` or ``request_refuse`` in the same transaction."""
    share.approval = approval
    share.approved_by_user_id = user.id
    share.approved_at = now_utc()
    share.approval_reason = reason
    session.flush()
    session.refresh(share, ["approved_by"])
    audit(
        session,
        action="request_approve" if approval == "approved" else "request_refuse",
        user=user,
        client_ip=client_ip,
        share_id=share.id,
        incident_id=share.incident_id,
        case_number=share.case_number,
        camera_ids=share.camera_ids,
        start=start,
        end=end,
        reason=reason,
        detail={
            "requested_by": share.granted_by.username,
            **(detail or {}),
            "policy_reasons": list(share.policy_reasons or []),
        },
    )


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
    share.past_start, share.past_end = g_start, g_end
    share.expires_at, share.live = g_exp, g_live
    _decide(
        session,
        share,
        user=user,
        client_ip=client_ip,
        approval="approved",
        reason=why,
        start=g_start,
        end=g_end,
        detail={
            "requested": requested,
            "granted": {
                "start": _iso(g_start),
                "end": _iso(g_end),
                "expires_at": _iso(g_exp),
                "live": g_live,
            },
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
    _decide(
        session,
        share,
        user=user,
        client_ip=client_ip,
        approval="refused",
        reason=why,
        start=share.past_start,
        end=share.past_end,
    )
    return share
