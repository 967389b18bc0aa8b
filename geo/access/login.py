"""Password login with a throttle that holds under concurrency.

Every attempt first bumps two atomic counters in PostgreSQL (:mod:`geo.access.throttle`), per
client address and user name tried, and per client address, and commits them *before* the
password is checked: however many attempts race, only the first ``login_max_failures`` of a
window (per user and address; ``login_max_failures_per_ip`` over all names) reach the password
check, the rest answer 429 with ``Retry-After``. A successful login clears its user's counter.
Counted per address, so nobody can lock an officer out from elsewhere. Logins are audited:
successes in the caller's transaction, failures in their own (they persist although the login
is refused), throttled attempts bounded per address (:func:`geo.access.throttle.audit_refusal`).
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.audit import audit, audit_detached
from geo.access.throttle import audit_refusal, bump, clean_text
from geo.access.tokens import create_token
from geo.access.users import burn_password_check, find_user, verify_password
from geo.errors import InvalidInput, TooManyRequests, Unauthorized
from geo.models.access import User
from geo.settings import get_settings

_CLEAR_SQL = text("""
    with u as (delete from rate_counters where scope = 'login_user' and key = :uk returning 1)
    update rate_counters set count = greatest(count - 1, 0)
    where scope = 'login_ip' and key = :ip""")


def _keys(username: str, client_ip: str) -> tuple[str, str]:
    return client_ip, f"{client_ip} {username}"


def check_login_rate(session: Session, *, username: str, client_ip: str | None) -> None:
    """Count this attempt and refuse it (429, audited) when the window's budget is spent: more
    than ``login_max_failures`` attempts for this user name from this address, or more than
    ``login_max_failures_per_ip`` from this address, within ``login_window_s``.

    The counts are committed before this returns (``session.commit()``), so a concurrent
    attempt sees them at once; call it before anything else in the login's transaction.
    """
    if not client_ip:
        return
    s = get_settings()
    ip_key, user_key = _keys(username, client_ip)
    by_ip = bump(session, scope="login_ip", key=ip_key, window_s=s.login_window_s)
    by_user = bump(session, scope="login_user", key=user_key, window_s=s.login_window_s)
    session.commit()  # the counts are durable and the rows unlocked before the password check
    over = [
        c
        for c, limit in ((by_user, s.login_max_failures), (by_ip, s.login_max_failures_per_ip))
        if c.count > limit
    ]
    if not over:
        return
    retry = max(1, math.ceil(max(c.remaining_s for c in over)))
    audit_refusal(
        session,
        action="login_failed",
        username=username,
        client_ip=client_ip,
        reason="rate limited",
        detail={"code": "rate_limited", "retry_after_s": retry},
    )
    raise TooManyRequests(
        f"too many failed logins from {client_ip} in the last {s.login_window_s} s; "
        "try again later",
        field="username",
        retry_after_s=retry,
    )


def login(
    session: Session, *, username: str, password: str, client_ip: str | None
) -> tuple[User, str, dt.datetime]:
    """Check a username and password; returns (user, token, expiry). Audited either way;
    refused without checking the password once the throttle's budget is spent
    (:func:`check_login_rate`). Used by ``POST /api/auth/token`` and ``/api/auth/session``."""
    if "\x00" in username:
        raise InvalidInput("username must not contain NUL characters", field="username")
    if "\x00" in password:
        raise InvalidInput("password must not contain NUL characters", field="password")
    name = username[:64]
    check_login_rate(session, username=name, client_ip=client_ip)
    user = find_user(session, name) if len(username) <= 64 else None
    if user is None:
        burn_password_check(password)
        why = "unknown user"
    elif not verify_password(password, user.password_hash):
        why = "wrong password"
    elif user.disabled:
        why = "user disabled"
    else:
        if client_ip:
            ip_key, user_key = _keys(name, client_ip)
            session.execute(_CLEAR_SQL, {"uk": user_key, "ip": ip_key})
        token, exp = create_token(user)
        audit(session, action="login", user=user, client_ip=client_ip)
        return user, token, exp
    session.commit()  # hand the connection back before the detached write: one at a time
    audit_detached(
        session,
        action="login_failed",
        user=user,
        username=clean_text(username),
        client_ip=client_ip,
        reason=why,
    )
    # one message for every cause, so the response does not reveal which users exist
    raise Unauthorized("incorrect username or password", field="username")
