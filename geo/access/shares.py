"""Shares: cameras made visible to a user or an agency, for a reason, a window and a while.

A share is created by an officer's one-click video request (``kind='request'``, to the
requester) or pushed by a control-centre operator (``kind='push'``, to a user or an agency). It
allows live view from ``granted_at`` to ``expires_at`` (when ``live``) and recorded video inside
``[past_start, past_end]``. Whether a request may use it is decided only by :mod:`geo.access`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from geo.access.roles import has_permission
from geo.access.tokens import MONITORING, create_media_token
from geo.errors import Conflict, InvalidInput, NotFound
from geo.models import Camera
from geo.models.access import Agency, Share, ShareCamera, User
from geo.settings import get_settings
from geo.times import aware, now_utc

#: Most cameras one share may carry.
MAX_SHARE_CAMERAS = 50
#: Longest a share may last.
MAX_SHARE_TTL_S = 30 * 24 * 3600
#: What :func:`shares_for` may filter on (the values of :func:`share_status` but 'pending').
SHARE_STATUSES = ("active", "expired", "revoked", "awaiting_approval", "refused")


#: Approval states under which a share may open anything (geo.access.policy).
OPEN_APPROVALS = ("auto", "approved")


def share_status(share: Share, *, now: dt.datetime | None = None) -> str:
    """``'revoked'``, ``'refused'`` (a supervisor refused the request), ``'expired'``,
    ``'awaiting_approval'`` (beyond policy, not yet decided), ``'pending'`` (not yet valid) or
    ``'active'``. Only an active share opens anything."""
    now = now or now_utc()
    if share.revoked_at is not None:
        return "revoked"
    if share.approval == "refused":
        return "refused"
    if share.expires_at <= now:
        return "expired"
    if share.approval == "pending":
        return "awaiting_approval"
    if share.granted_at is not None and share.granted_at > now:
        return "pending"
    return "active"


def default_window(occurred_at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The recorded window a share gets by default: the ``share_past_window_s`` before the incident."""
    t = aware(occurred_at, field="occurred_at")
    assert t is not None
    return t - dt.timedelta(seconds=get_settings().share_past_window_s), t


def create_share(
    session: Session,
    *,
    kind: str,
    granted_by: User,
    camera_ids: Sequence[int],
    reason: str,
    to_user: User | None = None,
    to_agency: Agency | None = None,
    incident_id: int | None = None,
    case_number: str | None = None,
    live: bool = True,
    past_start: dt.datetime | None = None,
    past_end: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
    face_blur: bool | None = None,
    approval: str = "auto",
    policy_reasons: Sequence[str] | None = None,
) -> Share:
    """Create a share of ``camera_ids`` (in that order) to a user or an agency.

    ``expires_at`` defaults to ``share_ttl_s`` from now. ``face_blur`` defaults to true unless an
    operator pushes to their own agency: video leaving the control centre is blurred.
    ``approval='pending'`` (a request beyond policy, ``policy_reasons`` saying why) creates a
    share that opens nothing until approved (:mod:`geo.access.policy`).
    """
    if approval not in ("auto", "pending"):
        raise InvalidInput("a new share is 'auto' or 'pending'", field="approval")
    if to_user is None and to_agency is None:
        raise InvalidInput("a share needs a recipient user or agency", field="to_user")
    if not reason or not reason.strip():
        raise InvalidInput("a share needs a reason (the legal basis)", field="reason")
    ids = list(dict.fromkeys(int(c) for c in camera_ids))
    if not ids:
        raise InvalidInput("a share needs at least one camera", field="camera_ids")
    if len(ids) > MAX_SHARE_CAMERAS:
        raise InvalidInput(f"at most {MAX_SHARE_CAMERAS} cameras per share", field="camera_ids")
    known = set(session.execute(select(Camera.id).where(Camera.id.in_(ids))).scalars())
    missing = [c for c in ids if c not in known]
    if missing:
        raise NotFound(f"camera(s) {missing} do not exist", field="camera_ids")
    past_start, past_end = aware(past_start, field="start"), aware(past_end, field="end")
    if (past_start is None) != (past_end is None):
        raise InvalidInput(
            "give both start and end of the recorded window, or neither",
            field="start" if past_start is None else "end",
        )
    if past_start is not None and past_end is not None and past_start > past_end:
        raise InvalidInput("start must not be after end", field="start")
    now = now_utc()
    expires_at = aware(expires_at, field="expires_at") or now + dt.timedelta(
        seconds=get_settings().share_ttl_s
    )
    if expires_at <= now:
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    if expires_at > now + dt.timedelta(seconds=MAX_SHARE_TTL_S):
        raise InvalidInput(
            f"a share may last at most {MAX_SHARE_TTL_S // 86400} days", field="expires_at"
        )
    if face_blur is None:
        recipient_agency = (
            to_agency.id
            if to_agency is not None
            else (to_user.agency_id if to_user is not None else None)
        )
        face_blur = kind == "request" or recipient_agency != granted_by.agency_id
    share = Share(
        kind=kind,
        incident_id=incident_id,
        case_number=case_number,
        granted_to_user=to_user,
        granted_to_agency=to_agency,
        granted_by=granted_by,
        live=live,
        past_start=past_start,
        past_end=past_end,
        granted_at=now,
        expires_at=expires_at,
        reason=reason.strip(),
        face_blur=face_blur,
        approval=approval,
        policy_reasons=list(policy_reasons) if policy_reasons else None,
        cameras=[ShareCamera(camera_id=c, position=i) for i, c in enumerate(ids)],
    )
    session.add(share)
    session.flush()
    return share


def get_share(session: Session, share_id: int) -> Share:
    share = session.get(Share, share_id)
    if share is None:
        raise NotFound(f"share {share_id} does not exist", field="share_id")
    return share


def is_recipient(share: Share, user: User) -> bool:
    """Whether ``share`` is granted to ``user`` directly or to the user's agency."""
    if share.granted_to_user_id is not None and share.granted_to_user_id == user.id:
        return True
    return share.granted_to_agency_id is not None and share.granted_to_agency_id == user.agency_id


def recipient_filter(user: User) -> Any:
    conds = [Share.granted_to_user_id == user.id]
    if user.agency_id is not None:
        conds.append(Share.granted_to_agency_id == user.agency_id)
    return or_(*conds)


def shares_for(
    session: Session,
    user: User,
    *,
    camera_id: int | None = None,
    status: str | None = None,
    granted_by_me: bool = False,
    limit: int = 200,
) -> list[Share]:
    """Shares granted to ``user`` (or their agency), or granted by them; newest first."""
    if status is not None and status not in (*SHARE_STATUSES,):
        raise InvalidInput(f"status must be one of {', '.join(SHARE_STATUSES)}", field="status")
    q = select(Share)
    q = (
        q.where(Share.granted_by_user_id == user.id)
        if granted_by_me
        else q.where(recipient_filter(user))
    )
    if camera_id is not None:
        q = q.where(
            Share.id.in_(select(ShareCamera.share_id).where(ShareCamera.camera_id == camera_id))
        )
    now = now_utc()
    if status == "active":
        q = q.where(
            Share.revoked_at.is_(None),
            Share.expires_at > now,
            Share.approval.in_(OPEN_APPROVALS),
            Share.granted_at <= now,
        )
    elif status == "revoked":
        q = q.where(Share.revoked_at.is_not(None))
    elif status == "refused":
        q = q.where(Share.revoked_at.is_(None), Share.approval == "refused")
    elif status == "expired":
        q = q.where(
            Share.revoked_at.is_(None), Share.approval != "refused", Share.expires_at <= now
        )
    elif status == "awaiting_approval":
        q = q.where(Share.revoked_at.is_(None), Share.approval == "pending", Share.expires_at > now)
    q = q.order_by(Share.granted_at.desc(), Share.id.desc()).limit(limit)
    return list(session.execute(q).scalars())


def revoke_share(session: Session, *, share: Share, by: User, reason: str | None) -> Share:
    """Revoke ``share`` now; a revoked share opens nothing. :class:`Conflict` when already revoked."""
    if share.revoked_at is not None:
        raise Conflict(
            f"share {share.id} was already revoked at {share.revoked_at.isoformat()}",
            field="share_id",
        )
    share.revoked_at = now_utc()
    share.revoked_by_user_id = by.id
    share.revoke_reason = reason
    session.flush()
    return share


def camera_links(
    camera_id: int,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    user: User | None = None,
    share: Share | str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, str]:
    """THE builder of a camera's video URLs (served by the video routes, each through the gate).

    With ``user`` and ``share`` (a :class:`Share`, or ``"monitoring"`` / the gate's unsaved
    monitoring share for the centre's live view) each link carries ``?mt=``, a media token
    (:func:`geo.access.tokens.create_media_token`) for that user, camera, share and kind, valid
    ``media_token_ttl_s``: ``<img>``/``<video>`` cannot send the Authorization header. Tokens
    are minted only where the gate could say yes: an active share granted to ``user`` (live
    links only when it grants live), monitoring only for a role that may monitor live. Without
    them the links need the header or the session cookie. ``start``/``end`` default to the
    share's recorded window (the clip link).
    """
    monitoring = share == MONITORING or (
        isinstance(share, Share) and share.id is None and share.kind == MONITORING
    )
    real = share if isinstance(share, Share) and not monitoring else None
    if real is not None and start is None and end is None:
        start, end = real.past_start, real.past_end
    base = f"/api/cameras/{camera_id}"
    links = {"live": f"{base}/live.mjpg", "snapshot": f"{base}/snapshot.jpg"}
    query: dict[str, dict[str, str]] = {"live": {}, "snapshot": {}}
    if start is not None and end is not None and not monitoring:
        links["clip"] = f"{base}/clip.mp4"
        query["clip"] = {
            "start": start.astimezone(dt.UTC).isoformat(),
            "end": end.astimezone(dt.UTC).isoformat(),
        }
    kinds: tuple[str, ...] = ()
    share_key: int | str | None = None
    if user is not None and monitoring and has_permission(user.role, "monitor_live"):
        kinds, share_key = ("live", "snapshot"), MONITORING
    elif (
        user is not None
        and real is not None
        and real.id is not None
        and is_recipient(real, user)
        and share_status(real, now=now) == "active"
    ):
        kinds = tuple(k for k in links if k == "clip" or real.live)
        share_key = real.id
    for kind in kinds:
        assert share_key is not None
        query[kind]["mt"] = create_media_token(
            user,  # type: ignore[arg-type]
            camera_id=camera_id,
            share_id=share_key,
            kind=kind,
            now=now,
        )[0]
    return {k: url + ("?" + urlencode(query[k]) if query[k] else "") for k, url in links.items()}


def share_dict(
    share: Share, *, now: dt.datetime | None = None, user: User | None = None
) -> dict[str, Any]:
    """A share as JSON-ready dict, with its status and each camera's links (media links for
    ``user`` when the share is granted to them and active: :func:`camera_links`)."""

    def iso(t: dt.datetime | None) -> str | None:
        return t.astimezone(dt.UTC).isoformat() if t is not None else None

    return {
        "id": share.id,
        "kind": share.kind,
        "status": share_status(share, now=now),
        "incident_id": share.incident_id,
        "case_number": share.case_number,
        "granted_to_user": share.granted_to_user.username if share.granted_to_user else None,
        "granted_to_agency": share.granted_to_agency.name if share.granted_to_agency else None,
        "granted_by": share.granted_by.username if share.granted_by else None,
        "live": share.live,
        "window": {"start": iso(share.past_start), "end": iso(share.past_end)},
        "granted_at": iso(share.granted_at),
        "expires_at": iso(share.expires_at),
        "revoked_at": iso(share.revoked_at),
        "revoke_reason": share.revoke_reason,
        "approval": share.approval or "auto",
        "policy_reasons": list(share.policy_reasons or []),
        "approved_by": share.approved_by.username if share.approved_by else None,
        "approved_at": iso(share.approved_at),
        "approval_reason": share.approval_reason,
        "reason": share.reason,
        "face_blur": share.face_blur,
        "camera_ids": share.camera_ids,
        "cameras": [
            {
                "id": c,
                "links": camera_links(
                    c, start=share.past_start, end=share.past_end, user=user, share=share, now=now
                ),
            }
            for c in share.camera_ids
        ],
    }
