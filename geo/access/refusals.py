"""The gate's primitives: refuse with an audit record, require a role and a registered address,
allow an action by permission. :mod:`geo.access.gate` (and through it every route) uses these;
the rules themselves are described there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from geo.access.audit import audit, audit_detached
from geo.access.caller import address_allowed
from geo.access.roles import roles_for
from geo.errors import Forbidden, GoldentimeError
from geo.models.access import User


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


__all__ = ["authorize", "deny", "ip_allowed", "require"]
