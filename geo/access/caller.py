"""Who is calling: the rules every authenticated route applies before it runs.

:func:`api.deps.token_claims` (the dependency every ``/api`` route goes through) asks these, so
no route can forget them: a refused token is audited (bounded per address), and a checked token
used from an address outside its user's registered ranges is refused and audited.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NoReturn

import jwt
from sqlalchemy import Engine, text

from geo.access.audit import audit_detached
from geo.access.throttle import audit_refusal, bump, clean_text
from geo.errors import Forbidden, GoldentimeError
from geo.models.access import User
from geo.settings import get_settings

# --- every authenticated route: token refusals, the registered address --------------------------
#
# api.deps.token_claims (the dependency every /api route and every user-yielding dependency
# goes through) asks these, so no route can forget them. The address check is pure (the token
# check's one read carries the user's registered ranges: geo.access.tokens._ACTIVE_SQL); only
# a refusal touches the database, to write its record before the answer leaves.

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=4096)
def _networks(cidrs: tuple[str, ...]) -> tuple[_Net, ...]:
    out = []
    for c in cidrs:
        try:
            out.append(ipaddress.ip_network(str(c), strict=False))
        except ValueError:
            continue
    return tuple(out)


def address_allowed(cidrs: Sequence[str] | None, client_ip: str | None) -> bool:
    """Whether ``client_ip`` lies in one of the ranges ``cidrs`` (IPv4-mapped IPv6 too); no
    ranges or no address: never. The rule :func:`ip_allowed` applies to a user object."""
    if not client_ip or not cidrs:
        return False
    try:
        addr = ipaddress.ip_address(client_ip.strip().strip("[]"))
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr.version == n.version and addr in n for n in _networks(tuple(cidrs)))


def _claims_user(claims: dict[str, Any]) -> User:
    """An unsaved :class:`User` carrying the checked token's identity, for the audit record."""
    return User(id=int(claims["uid"]), username=str(claims["sub"]), role=claims.get("role"))


def _route_ids(path_params: dict[str, Any] | None) -> dict[str, Any]:
    """Audit context from a route's path (``camera_id``, ``share_id``, ``incident_id``)."""
    ctx: dict[str, Any] = {}
    for name, key in (("camera_id", "camera_ids"), ("share_id", "share_id")):
        v = (path_params or {}).get(name)
        if isinstance(v, int) or (isinstance(v, str) and v.isdigit() and len(v) < 10):
            ctx[key] = [int(v)] if key == "camera_ids" else int(v)
    v = (path_params or {}).get("incident_id")
    if isinstance(v, int) or (isinstance(v, str) and v.isdigit() and len(v) < 10):
        ctx["incident_id"] = int(v)
    return ctx


def refuse_address(
    engine: Engine,
    *,
    claims: dict[str, Any],
    client_ip: str | None,
    route: str,
    path_params: dict[str, Any] | None = None,
) -> NoReturn:
    """Refuse (403, ``denied`` with code ``ip``, committed first) a checked token used from an
    address outside its user's registered ranges, on any route. Bounded per (user, address) and
    window (:func:`_address_refusal_gets_a_row`), so a flood with a stolen token cannot grow the
    log without bound; the count is never lost."""
    username = str(claims.get("sub"))
    reason = f"client address {client_ip} is not registered for user {username!r}"
    ids = _route_ids(path_params)
    if _address_refusal_gets_a_row(engine, claims=claims, client_ip=client_ip):
        audit_detached(
            EngineBound(engine),  # type: ignore[arg-type]
            action="denied",
            user=_claims_user(claims),
            client_ip=client_ip,
            reason=reason,
            detail={"access": route, "code": "ip"},
            case_number=_case_of(engine, ids),
            **ids,
        )
    raise Forbidden(reason, code="ip")


def _address_refusal_gets_a_row(
    engine: Engine, *, claims: dict[str, Any], client_ip: str | None
) -> bool:
    """Count an address refusal of (user, address) and say whether it gets its own record.

    The first ``settings.refusal_audit_max`` per ``refusal_audit_window_s`` do. The next one
    writes "cap reached" and later ones are only counted, with one "still refusing: N beyond the
    cap" record each time N doubles (so a flood of F adds about log2(F) records, and the log
    always says roughly how big it was). The first refusal after the window writes the window's
    exact count. Counted in PostgreSQL (``rate_counters``; all workers share it).
    """
    s = get_settings()
    cap, window_s = s.refusal_audit_max, s.refusal_audit_window_s
    user, ip = _claims_user(claims), clean_text(client_ip) or ""
    with engine.begin() as conn:
        c = bump(conn, scope="refusal_ip", key=f"{user.id} {ip}", window_s=window_s)

    def note(reason: str, **detail: Any) -> None:
        audit_detached(
            EngineBound(engine),  # type: ignore[arg-type]
            action="denied",
            user=user,
            client_ip=client_ip,
            reason=reason,
            detail={"code": "ip", "window_s": window_s, "cap": cap, **detail},
        )

    who = f"user {user.username!r} from {ip}"
    if c.closed > cap and c.closed_first_at is not None:
        since = c.closed_first_at.isoformat()
        note(
            f"address refusals of {who}: {c.closed} in the {window_s} s from {since}, "
            f"{c.closed - cap} of them not recorded one by one",
            flood="window_total",
            refusals=c.closed,
            suppressed=c.closed - cap,
            window_start=since,
        )
    beyond = c.count - cap
    if beyond <= 0:
        return True
    if beyond & (beyond - 1) == 0:  # 1, 2, 4, 8, ...: the cap, then each doubling
        note(
            (
                f"address refusals of {who} reached the cap of {cap} per {window_s} s: "
                "further ones are counted, not recorded one by one"
            )
            if beyond == 1
            else f"address refusals of {who}: still refusing, {c.count} in this window so far",
            flood="cap_reached" if beyond == 1 else "still_refusing",
            refusals=c.count,
            window_start=c.first_at.isoformat(),
        )
    return False


def _case_of(engine: Engine, ids: dict[str, Any]) -> str | None:
    """The case number of the incident or share a refused route names (context for the log)."""
    if "incident_id" in ids:
        sql, key = "select case_number from incidents where id = :i", "incident_id"
    elif "share_id" in ids:
        sql, key = "select case_number from shares where id = :i", "share_id"
    else:
        return None
    with engine.connect() as c:
        found = c.execute(text(sql), {"i": ids[key]}).scalar()
    return str(found) if found is not None else None


def unverified_subject(token: str | None) -> str | None:
    """The ``sub`` a token claims, signature NOT checked: only to name the user tried in the
    record of a refused token (cleaned, at most 64 characters)."""
    if not token:
        return None
    try:
        sub = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except Exception:  # garbage is exactly what this records
        return None
    return clean_text(sub) if isinstance(sub, str) else None


def record_unauthenticated(
    engine: Engine,
    *,
    error: GoldentimeError,
    token: str | None,
    client_ip: str | None,
    route: str,
    path_params: dict[str, Any] | None = None,
) -> None:
    """Audit a 401 (no, forged, expired token; disabled or unknown user) with the user name the
    token claims and the address; bounded per address (:func:`geo.access.throttle.audit_refusal`)
    so a flood cannot fill the log. The caller raises ``error`` afterwards."""
    audit_refusal(
        engine,
        action="denied",
        username=unverified_subject(token),
        client_ip=client_ip,
        reason=error.message,
        detail={"access": route, "code": "token", "token": bool(token)},
        **_route_ids(path_params),
    )


class EngineBound:
    """The part of a Session :func:`audit_detached` uses (its engine), for callers on the
    event loop's side that hold no session."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get_bind(self) -> Engine:
        return self.engine
