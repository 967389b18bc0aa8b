"""The gate for video and shares: :func:`authorize_video` (live, snapshot, clip, playback, with
or without a media token) and :func:`authorize_share` (opening a share). Part of
:mod:`geo.access.gate`, which re-exports both; the rules are described there.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.access.audit import audit
from geo.access.policy import live_refusal
from geo.access.refusals import deny, require
from geo.access.roles import MONITOR_ROLES, VIDEO_ROLES
from geo.access.shares import get_share, is_recipient, recipient_filter, share_status
from geo.errors import InvalidInput, NotFound
from geo.models import Camera
from geo.models.access import Share, ShareCamera, User
from geo.times import check_window, now_utc


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


__all__ = ["authorize_share", "authorize_video"]
