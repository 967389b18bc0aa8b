"""``/api/video-requests``: the approval loop for video requests beyond policy.

A request beyond :mod:`geo.access.policy` is a share awaiting approval; an operator or admin
(permission ``approve_request``, from a registered address, never on their own request) lists
them, approves (possibly narrowed) or refuses them with a reason. Every decision is audited.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ClientIP, CurrentUser, SessionDep
from api.validation import SafeText, SaneDatetime
from geo.access import approvals
from geo.access.policy import policy_dict
from geo.access.shares import share_dict
from geo.times import now_utc

router = APIRouter(prefix="/api/video-requests", tags=["video requests"])

ShareId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ApproveIn(BaseModel):
    """An approval: a mandatory reason; optionally a narrower grant than requested."""

    model_config = ConfigDict(extra="forbid")

    reason: SafeText = Field(min_length=1, max_length=1000, description="why it is approved")
    start: SaneDatetime | None = Field(None, description="narrower window start (default: asked)")
    end: SaneDatetime | None = Field(None, description="narrower window end (by now)")
    expires_at: SaneDatetime | None = Field(None, description="earlier expiry (default: asked)")
    live: bool | None = Field(None, description="false drops live view (default: asked)")


class RefuseIn(BaseModel):
    """A refusal: a mandatory reason."""

    model_config = ConfigDict(extra="forbid")

    reason: SafeText = Field(min_length=1, max_length=1000, description="why it is refused")


@router.get("")
def list_requests(
    session: SessionDep,
    user: CurrentUser,
    ip: ClientIP,
    status: Literal["pending", "approved", "refused"] = Query("pending"),
    limit: int = Query(200, ge=1, le=1000),
) -> dict[str, Any]:
    """Video requests by approval state (default: the pending queue, oldest first), for
    operators and admins; each with the policy's reasons it is beyond policy."""
    now = now_utc()
    rows = approvals.list_requests(session, user=user, client_ip=ip, approval=status, limit=limit)
    return {
        "requests": [share_dict(s, now=now) for s in rows],
        "total": len(rows),
        "policy": policy_dict(),
    }


@router.post("/{share_id}/approve")
def approve(
    share_id: ShareId, body: ApproveIn, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> dict[str, Any]:
    """Approve a pending request as asked or narrowed; audited ``request_approve``. The share
    then opens exactly the approved window."""
    share = approvals.approve_request(
        session, user=user, client_ip=ip, share_id=share_id, **body.model_dump()
    )
    return share_dict(share)


@router.post("/{share_id}/refuse")
def refuse(
    share_id: ShareId, body: RefuseIn, session: SessionDep, user: CurrentUser, ip: ClientIP
) -> dict[str, Any]:
    """Refuse a pending request; audited ``request_refuse``. The share never opens."""
    share = approvals.refuse_request(
        session, user=user, client_ip=ip, share_id=share_id, reason=body.reason
    )
    return share_dict(share)
