"""THE access gate: every path that reveals video or a share asks here, and only here.

Rules (the law the smart-city centres work under: approved officers, from a registered user ID
*and* a registered IP address, every request and view logged):

1. **Role.** ``police``, ``fire``, ``disaster``, ``investigator`` see video only through a share.
   ``operator`` and ``admin`` (the control centre) may *monitor live* any camera without a share;
   recorded or exported video needs a share for them too. ``planner`` and ``auditor`` never see
   video.
2. **Address.** The request's client IP (see ``api.deps.client_ip``: proxies only when trusted)
   must lie in one of the user's registered CIDR ranges, for every role.
3. **Share.** An active share (not revoked, not expired) granted to the user or the user's agency
   must contain the camera, and cover the request: live view needs ``share.live``; recorded video
   ``[start, end]`` must lie inside the share's past window.

A refusal raises :class:`geo.errors.Forbidden` with the precise reason and writes a ``denied``
audit record in its own transaction (it persists although the request fails); a success writes a
``view`` record in the caller's transaction before returning. Routes never re-check.

The gate is three modules, imported through this one (``from geo.access import gate``):
:mod:`geo.access.refusals` (``deny``, ``require``, ``authorize``, ``ip_allowed``),
:mod:`geo.access.video_gate` (``authorize_video``, ``authorize_share``) and this module
(incidents, request decisions, tracing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from geo.access.audit import audit
from geo.access.policy import INCIDENT_ACTIONS, incident_refusal
from geo.access.refusals import authorize, deny, ip_allowed, require
from geo.access.roles import roles_for
from geo.access.video_gate import _inactive_reason, authorize_share, authorize_video
from geo.errors import InvalidInput
from geo.models.access import Share, User


def authorize_incident(
    session: Session,
    *,
    user: User,
    client_ip: str | None,
    incident: dict[str, Any],
    action: str,
) -> None:
    """Allow ``user`` to do ``action`` (``incident_update``, ``incident_share``,
    ``video_request``) on ``incident``: the action's permission, a registered address, and the
    policy's ownership rule (:func:`geo.access.policy.incident_refusal`: the owning agency or the
    centre changes an incident; other agencies request video only once it is shared with them).
    Refusals are audited (``denied``, code ``role``, ``ip`` or ``agency``)."""
    ctx: dict[str, Any] = {
        "incident_id": incident["id"],
        "case_number": incident.get("case_number"),
    }
    require(
        session,
        user=user,
        client_ip=client_ip,
        roles=roles_for(INCIDENT_ACTIONS[action]),
        action=action,
        **ctx,
    )
    why = incident_refusal(session, user=user, incident=incident, action=action)
    if why is not None:
        deny(
            session,
            user=user,
            client_ip=client_ip,
            action=action,
            code="agency",
            reason=why,
            detail={"incident_agency_id": incident.get("agency_id")},
            **ctx,
        )


def authorize_decision(
    session: Session, *, user: User, client_ip: str | None, share: Share, action: str
) -> None:
    """Allow ``user`` to approve or refuse (``action``: ``request_approve`` /
    ``request_refuse``) the pending request ``share``: permission ``approve_request``, a
    registered address, and never their own request (requested by them or granted to them).
    Refusals are audited."""
    ctx: dict[str, Any] = {
        "share_id": share.id,
        "incident_id": share.incident_id,
        "case_number": share.case_number,
        "camera_ids": share.camera_ids,
    }
    require(
        session,
        user=user,
        client_ip=client_ip,
        roles=roles_for("approve_request"),
        action=action,
        **ctx,
    )
    if user.id in (share.granted_by_user_id, share.granted_to_user_id):
        deny(
            session,
            user=user,
            client_ip=client_ip,
            action=action,
            code="self",
            reason=f"share {share.id} is {user.username!r}'s own request: another supervisor "
            "must decide it",
            **ctx,
        )


# --- tracing a person's movements: routes, tracks, reachable sets -------------------------------


def authorize_trace(
    session: Session,
    *,
    user: User,
    client_ip: str,
    kind: str,
    case_number: str | None,
    reason: str | None,
    mode: str | None = None,
    camera_ids: Sequence[int] = (),
    detail: dict[str, Any] | None = None,
) -> None:
    """Allow ``user`` at ``client_ip`` to trace movements (``kind``: ``route``, ``track``,
    ``reachable``, their maps): permission ``trace``, a registered address, a case number and a
    reason. Refusals are audited (``denied``); an allowed call writes a ``trace`` record in the
    caller's transaction, with the case, the reason, the cameras of the sightings and the mode."""
    case = (case_number or "").strip()
    why = (reason or "").strip()
    if not case:
        raise InvalidInput("tracing needs the case number it is for", field="case_number")
    if not why:
        raise InvalidInput("tracing needs a reason", field="reason")
    cams = sorted({int(c) for c in camera_ids})
    info = {"kind": kind, "mode": mode, **(detail or {})}
    require(
        session,
        user=user,
        client_ip=client_ip,
        roles=roles_for("trace"),
        action="trace",
        case_number=case,
        camera_ids=cams or None,
        detail=info,
    )
    audit(
        session,
        action="trace",
        user=user,
        client_ip=client_ip,
        case_number=case,
        camera_ids=cams or None,
        reason=why,
        detail=info,
    )


__all__ = [
    "_inactive_reason",
    "authorize",
    "authorize_decision",
    "authorize_incident",
    "authorize_share",
    "authorize_trace",
    "authorize_video",
    "deny",
    "ip_allowed",
    "require",
]
