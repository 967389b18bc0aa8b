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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.access.audit import audit, audit_detached
from geo.access.caller import address_allowed
from geo.access.policy import INCIDENT_ACTIONS, incident_refusal, live_refusal
from geo.access.roles import MONITOR_ROLES, VIDEO_ROLES, roles_for
from geo.access.shares import get_share, is_recipient, recipient_filter, share_status
from geo.errors import Forbidden, GoldentimeError, InvalidInput, NotFound
from geo.models import Camera
from geo.models.access import Share, ShareCamera, User
from geo.times import check_window, now_utc


def ip_allowed(user: User, client_ip: str | None) -> bool:
    """Whether ``client_ip`` lies in one of ``user``'s registered ranges (IPv4-mapped IPv6 too):
    :func:`geo.access.caller.address_allowed` on the user's ranges, the one rule for both."""
    return address_allowed([str(c) for c in user.allowed_cidrs or []], client_ip)


def deny(
    session: Session,
    *,
    user: User,
    client_ip: str | None,
    reason: str,
    action: str,
    code: str,
    exc: type[GoldentimeError] = Forbidden,
    **ctx: Any,
) -> NoReturn:
    """Write a ``denied`` record in its own transaction, then raise ``exc`` with the reason."""
    detail = {"access": action, "code": code, **ctx.pop("detail", {})}
    audit_detached(
        session,
        action="denied",
        user=user,
        client_ip=client_ip,
        reason=reason,
        detail=detail,
        **ctx,
    )
    raise exc(reason, code=code)


def require(
    session: Session,
    *,
    user: User,
    client_ip: str | None,
    roles: Sequence[str],
    action: str,
    check_ip: bool = True,
    **ctx: Any,
) -> None:
    """Refuse (audited) unless ``user`` has one of ``roles`` and, with ``check_ip``, a registered
    address. For actions that are not video views but still need the rules (requests, pushes)."""
    if user.role not in roles:
        deny(
            session,
            user=user,
            client_ip=client_ip,
            action=action,
            code="role",
            reason=f"role {user.role!r} may not {action.replace('_', ' ')} "
            f"(allowed: {', '.join(roles)})",
            **ctx,
        )
    if check_ip and not ip_allowed(user, client_ip):
        deny(
            session,
            user=user,
            client_ip=client_ip,
            action=action,
            code="ip",
            reason=f"client address {client_ip} is not registered for user {user.username!r}",
            **ctx,
        )


def authorize(
    session: Session,
    *,
    user: User,
    client_ip: str | None,
    permission: str,
    action: str,
    record: str | None = None,
    reason: str | None = None,
    **ctx: Any,
) -> None:
    """Allow ``user`` at ``client_ip`` an ``action`` that needs ``permission`` (a row of
    :data:`geo.access.roles.PERMISSIONS`), with a registered address; refusals are audited
    (``denied``). With ``record``, the allowed action is written to the audit log (that action
    name, ``reason`` and ``ctx``) in the caller's transaction, before anything flows. The one call
    a route makes for everything that is not video, a share, an incident or a trace."""
    require(
        session,
        user=user,
        client_ip=client_ip,
        roles=roles_for(permission),
        action=action,
        **ctx,
    )
    if record is not None:
        audit(session, action=record, user=user, client_ip=client_ip, reason=reason, **ctx)


def _window_text(s: dt.datetime | None, e: dt.datetime | None) -> str:
    if s is None or e is None:
        return "no recorded window"
    return f"{s.isoformat()} .. {e.isoformat()}"


def _covers(
    share: Share,
    *,
    live: bool,
    start: dt.datetime | None,
    end: dt.datetime | None,
    session: Session | None = None,
) -> str | None:
    """``None`` when an active ``share`` covers the request, else why not. With ``session``,
    live view also follows the policy (it ends when the share's incident is closed)."""
    if live:
        if not share.live:
            return f"share {share.id} does not include live view"
        return live_refusal(session, share) if session is not None else None
    if share.past_start is None or share.past_end is None:
        return f"share {share.id} grants no recorded video"
    assert start is not None and end is not None
    if start < share.past_start or end > share.past_end:
        return (
            f"requested window {start.isoformat()} .. {end.isoformat()} is outside share "
            f"{share.id}'s window {_window_text(share.past_start, share.past_end)}"
        )
    return None


def _inactive_reason(share: Share, status: str) -> str:
    if status == "awaiting_approval":
        return (
            f"share {share.id} is awaiting approval (beyond policy: a supervisor must approve it)"
        )
    if status == "refused":
        return f"share {share.id} was refused by its approver: {share.approval_reason}"
    if status == "revoked":
        assert share.revoked_at is not None
        return f"share {share.id} was revoked at {share.revoked_at.isoformat()}"
    if status == "expired":
        return f"share {share.id} expired at {share.expires_at.isoformat()}"
    return f"share {share.id} is not valid before {share.granted_at.isoformat()}"


def _record_view(
    session: Session,
    *,
    user: User,
    client_ip: str,
    share: Share,
    camera_ids: list[int],
    action: str,
    live: bool,
    start: dt.datetime | None,
    end: dt.datetime | None,
    monitoring: bool = False,
) -> None:
    audit(
        session,
        action="view",
        user=user,
        client_ip=client_ip,
        share_id=share.id,
        case_number=share.case_number,
        incident_id=share.incident_id,
        camera_ids=camera_ids,
        start=start,
        end=end,
        reason=share.reason,
        detail={
            "access": action,
            "live": live,
            "monitoring": monitoring,
            "face_blur": share.face_blur,
        },
    )


def _require_recipient(
    session: Session,
    share: Share,
    *,
    user: User,
    client_ip: str | None,
    action: str,
    ctx: dict[str, Any],
) -> None:
    """Refuse (audited) unless the share is granted to ``user`` or their agency."""
    if not is_recipient(share, user):
        deny(
            session,
            user=user,
            client_ip=client_ip,
            action=action,
            code="recipient",
            reason=f"share {share.id} is granted to another user or agency",
            **ctx,
        )


def _media_share(
    session: Session,
    media: dict[str, Any],
    *,
    user: User,
    client_ip: str,
    camera_id: int,
    action: str,
    live: bool,
    ctx: dict[str, Any],
) -> int | None:
    """The share a media token pins (``None``: the centre's live monitoring); refuses (403,
    audited) a token for another camera, another kind of access, or monitoring beyond live."""
    why = None
    if media.get("cam") != camera_id:
        why = f"the media token is for camera {media.get('cam')}, not camera {camera_id}"
    elif media.get("knd") != action:
        why = f"the media token is for {media.get('knd')}, not {action}"
    elif media.get("shr") == "monitoring" and not live:
        why = "a monitoring media token opens live video only"
    if why is not None:
        deny(
            session,
            user=user,
            client_ip=client_ip,
            action=action,
            code="media_token",
            reason=why,
            **ctx,
        )
    shr = media.get("shr")
    return shr if isinstance(shr, int) else None


def authorize_video(
    session: Session,
    *,
    user: User,
    client_ip: str,
    camera_id: int,
    action: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    live: bool = False,
    share_id: int | None = None,
    media: dict[str, Any] | None = None,
) -> Share:
    """Allow ``user`` at ``client_ip`` to see ``camera_id`` (live, or recorded ``[start, end]``).

    Returns the share that allows it (``share.face_blur`` says whether faces must be blurred). An
    operator or admin monitoring live without a share gets an unsaved ``Share`` with ``id=None``,
    ``kind='monitoring'`` and ``face_blur=False``. ``action`` names the access for the log
    (``"live"``, ``"snapshot"``, ``"clip"``, ``"playback"`` ...); ``share_id`` pins the share to use.
    Raises :class:`Forbidden` (audited) with the reason, :class:`NotFound` for an unknown camera
    or share, :class:`InvalidInput` for a bad window. ``media``: the claims of the media token
    (``?mt=``) the request came with; it must name this camera and this ``action`` and pins its
    share (:func:`_media_share`).
    """
    if not live and (start is None or end is None):
        raise InvalidInput(
            "recorded video needs start and end", field="start" if start is None else "end"
        )
    start, end = check_window(start, end)
    ctx: dict[str, Any] = {
        "camera_ids": [camera_id],
        "start": start,
        "end": end,
        "share_id": share_id,
        "detail": {"live": live},
    }
    if media is not None:
        share_id = ctx["share_id"] = _media_share(
            session,
            media,
            user=user,
            client_ip=client_ip,
            camera_id=camera_id,
            action=action,
            live=live,
            ctx=ctx,
        )
    require(session, user=user, client_ip=client_ip, roles=VIDEO_ROLES, action=action, **ctx)
    if session.get(Camera, camera_id) is None:
        deny(
            session,
            user=user,
            client_ip=client_ip,
            action=action,
            code="camera",
            reason=f"camera {camera_id} does not exist",
            exc=NotFound,
            **ctx,
        )

    if share_id is not None:
        share = session.get(Share, share_id)
        if share is None:
            deny(
                session,
                user=user,
                client_ip=client_ip,
                action=action,
                code="share",
                reason=f"share {share_id} does not exist",
                exc=NotFound,
                **ctx,
            )
        candidates = [share]
        _require_recipient(session, share, user=user, client_ip=client_ip, action=action, ctx=ctx)
        if camera_id not in share.camera_ids:
            deny(
                session,
                user=user,
                client_ip=client_ip,
                action=action,
                code="camera",
                reason=f"camera {camera_id} is not in share {share_id}",
                **ctx,
            )
    else:
        q = (
            select(Share)
            .join(ShareCamera, ShareCamera.share_id == Share.id)
            .where(ShareCamera.camera_id == camera_id, recipient_filter(user))
            .order_by(Share.granted_at.desc(), Share.id.desc())
        )
        candidates = list(session.execute(q).scalars())

    now = now_utc()
    active = [s for s in candidates if share_status(s, now=now) == "active"]
    for s in active:
        if _covers(s, live=live, start=start, end=end, session=session) is None:
            _record_view(
                session,
                user=user,
                client_ip=client_ip,
                share=s,
                camera_ids=[camera_id],
                action=action,
                live=live,
                start=start,
                end=end,
            )
            return s

    if live and share_id is None and user.role in MONITOR_ROLES:
        monitor = Share(
            id=None,
            kind="monitoring",
            granted_by_user_id=user.id,
            live=True,
            granted_at=now,
            expires_at=now,
            reason="control-centre live monitoring",
            face_blur=False,
        )
        audit(
            session,
            action="view",
            user=user,
            client_ip=client_ip,
            camera_ids=[camera_id],
            reason=monitor.reason,
            detail={"access": action, "live": True, "monitoring": True, "face_blur": False},
        )
        return monitor

    if active:
        reason = (
            _covers(active[0], live=live, start=start, end=end, session=session) or "not covered"
        )
        code = "live" if live else "window"
    elif candidates:
        s = candidates[0]
        st = share_status(s, now=now)
        reason, code = _inactive_reason(s, st), st
        ctx["share_id"] = s.id
    else:
        reason = f"no share grants camera {camera_id} to {user.username!r} or their agency"
        if user.role in MONITOR_ROLES:
            reason += " (without a share the control centre may only monitor live)"
        code = "no_share"
    deny(session, user=user, client_ip=client_ip, action=action, code=code, reason=reason, **ctx)


def authorize_share(session: Session, *, user: User, client_ip: str, share_id: int) -> Share:
    """Open share ``share_id`` for ``user``: recipient, role, address and an active share.

    Audited as a ``view`` (``access='share_open'``) on success and ``denied`` otherwise; an
    expired or revoked share opens nothing.
    """
    action = "share_open"
    ctx: dict[str, Any] = {"share_id": share_id}
    found = session.get(Share, share_id)
    if found is not None:  # context for the log only; the checks below come first
        ctx.update(
            camera_ids=found.camera_ids,
            case_number=found.case_number,
            incident_id=found.incident_id,
        )
    require(session, user=user, client_ip=client_ip, roles=VIDEO_ROLES, action=action, **ctx)
    try:
        share = get_share(session, share_id)
    except NotFound as e:
        deny(
            session,
            user=user,
            client_ip=client_ip,
            action=action,
            code="share",
            reason=e.message,
            exc=NotFound,
            **ctx,
        )
    _require_recipient(session, share, user=user, client_ip=client_ip, action=action, ctx=ctx)
    st = share_status(share)
    if st != "active":
        deny(
            session,
            user=user,
            client_ip=client_ip,
            action=action,
            code=st,
            reason=_inactive_reason(share, st),
            **ctx,
        )
    _record_view(
        session,
        user=user,
        client_ip=client_ip,
        share=share,
        camera_ids=share.camera_ids,
        action=action,
        live=share.live,
        start=share.past_start,
        end=share.past_end,
    )
    return share


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
