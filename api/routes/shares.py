"""``/api/shares``: the shares granted to me, opening one (through the access gate), revoking."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ClientIP, CurrentUser, SessionDep
from api.validation import Int32Id, SafeText
from geo.access import requests as video_requests
from geo.access import shares
from geo.access.gate import authorize_share
from geo.access.tokens import media_token_expiry
from geo.times import now_utc

router = APIRouter(prefix="/api/shares", tags=["shares"])


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: SafeText | None = Field(None, max_length=1000)


@router.get("")
def list_shares(
    session: SessionDep,
    user: CurrentUser,
    status: Literal["active", "expired", "revoked", "awaiting_approval", "refused"] | None = Query(
        None
    ),
    camera_id: Int32Id | None = Query(None),
    granted_by_me: bool = Query(False, description="shares I granted instead of received"),
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    """Shares granted to me or my agency, newest first; each says whether it is still active.

    Listing reveals no video: opening a share (``GET /api/shares/{id}``) goes through the gate.
    """
    now = now_utc()
    rows = shares.shares_for(
        session, user, camera_id=camera_id, status=status, granted_by_me=granted_by_me, limit=limit
    )
    items = [shares.share_dict(s, now=now) for s in rows]
    return {
        "shares": items,
        "total": len(items),
        "active": sum(1 for s in items if s["status"] == "active"),
    }


@router.get("/{share_id}")
def open_share(
    share_id: Int32Id, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> dict[str, Any]:
    """Open a share: its cameras and video links. Audited; an expired or revoked share, another
    agency's share or an unregistered address gets 403 with the reason."""
    share = authorize_share(session, user=user, client_ip=ip, share_id=share_id)
    return shares.share_dict(share, user=user)


@router.get("/{share_id}/links")
def share_links(
    share_id: Int32Id, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> dict[str, Any]:
    """Fresh video links for each camera of a share granted to me, each with a media token
    (``?mt=``, a few minutes) for ``<img>``/``<video>``, which cannot send a header. Through the
    gate like opening the share (recipient, role, address, active; audited)."""
    share = authorize_share(session, user=user, client_ip=ip, share_id=share_id)
    now = now_utc()
    return {
        "share_id": share.id,
        "expires_at": media_token_expiry(now=now).isoformat(),  # capped at the login's expiry
        "cameras": [
            {"id": c, "links": shares.camera_links(c, user=user, share=share, now=now)}
            for c in share.camera_ids
        ],
    }


@router.post("/{share_id}/revoke")
def revoke_share(
    share_id: Int32Id,
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
    body: Annotated[RevokeIn | None, Body()] = None,
) -> dict[str, Any]:
    """Revoke a share now (its granter, or an operator/admin); audited."""
    share = shares.get_share(session, share_id)
    video_requests.revoke(
        session, user=user, client_ip=ip, share=share, reason=body.reason if body else None
    )
    return shares.share_dict(share)
