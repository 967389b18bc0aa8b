"""Live streams are re-checked while they run: a revoked or expired share, a closed incident, a
disabled user, a lost address or a logout of the login the stream was opened with (its bearer
token, or the login its media link was minted under) ends the stream within a few seconds
(``live_recheck_s``)."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.access.audit import audit_detached
from geo.access.caller import EngineBound
from geo.access.gate import _inactive_reason, ip_allowed
from geo.access.policy import live_refusal
from geo.access.roles import MONITOR_ROLES, VIDEO_ROLES
from geo.access.shares import share_status
from geo.models.access import Share, User

# --- live streams: re-checked while they run ------------------------------------------------------

_REVOKED_SQL = text("select 1 from revoked_tokens where jti = :jti")


def still_allowed(
    engine: Engine,
    *,
    share_id: int | None,
    user_id: int,
    camera_id: int,
    client_ip: str | None,
    login_id: str | None = None,
) -> str | None:
    """Why a running live stream must end now (``None``: it may go on): the user was disabled,
    lost the role or the address, the login ``login_id`` (the ``login_id`` of the request's
    checked claims) was logged out, or the share (``None``: the centre's monitoring) was revoked,
    expired, lost the camera or live view. Reads the user and share in a fresh short session, so
    it sees changes committed after the stream started; cheap enough to call every few
    seconds. A database error ends the stream too (fail closed)."""
    try:
        with Session(engine) as s:
            user = s.get(User, user_id)
            if user is None or user.disabled:
                return "the user was disabled"
            if not ip_allowed(user, client_ip):
                return f"client address {client_ip} is no longer registered for the user"
            if login_id and s.execute(_REVOKED_SQL, {"jti": login_id}).first() is not None:
                return "the login it was opened with was logged out (token revoked)"
            if share_id is None:
                if user.role not in MONITOR_ROLES:
                    return f"role {user.role!r} may no longer monitor live"
                return None
            if user.role not in VIDEO_ROLES:
                return f"role {user.role!r} may no longer see video"
            share = s.get(Share, share_id)
            if share is None:
                return f"share {share_id} no longer exists"
            st = share_status(share)
            if st != "active":
                return _inactive_reason(share, st)
            if not share.live:
                return f"share {share.id} no longer includes live view"
            if camera_id not in share.camera_ids:
                return f"camera {camera_id} is no longer in share {share.id}"
            return live_refusal(s, share)
    except Exception as e:  # noqa: BLE001 - cannot re-check: stop showing video
        return f"the stream could not be re-checked ({type(e).__name__})"


def end_stream(
    engine: Engine,
    *,
    user_id: int,
    username: str,
    role: str | None,
    client_ip: str | None,
    share_id: int | None,
    camera_id: int,
    reason: str,
) -> None:
    """Record (``denied``, code ``stream_ended``) that a running live stream was cut, and why."""
    audit_detached(
        EngineBound(engine),  # type: ignore[arg-type]
        action="denied",
        user=User(id=user_id, username=username, role=role),
        client_ip=client_ip,
        share_id=share_id,
        camera_ids=[camera_id],
        reason=f"live stream ended: {reason}",
        detail={"access": "live", "code": "stream_ended", "live": True},
    )
