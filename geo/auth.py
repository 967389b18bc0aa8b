"""Authentication: password login and signed bearer tokens (JWT, HS256, ``settings.secret_key``).

A token names its user; every request re-reads the user, so disabling an account revokes its
tokens at once. Logins, good and bad, are audited (failures in their own transaction, so they
persist although the login is refused).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt
from sqlalchemy import text

from geo.audit import audit, audit_detached
from geo.db import AsyncReader, Plan, arun_plan, run_plan
from geo.errors import Unauthorized
from geo.models.access import User
from geo.settings import get_settings
from geo.users import burn_password_check, find_user, verify_password

ALGORITHM = "HS256"
ISSUER = "goldentime"


def create_token(
    user: User, *, ttl_s: int | None = None, now: dt.datetime | None = None
) -> tuple[str, dt.datetime]:
    """A signed access token for ``user`` and its expiry (``settings.token_ttl_s`` by default)."""
    s = get_settings()
    now = now or dt.datetime.now(dt.UTC)
    exp = now + dt.timedelta(seconds=s.token_ttl_s if ttl_s is None else ttl_s)
    claims = {
        "sub": user.username,
        "uid": user.id,
        "role": user.role,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int(exp.timestamp()),
    }
    return jwt.encode(claims, s.secret_key, algorithm=ALGORITHM), exp


def decode_token(token: str) -> dict[str, Any]:
    """The verified claims of ``token``; :class:`Unauthorized` saying why otherwise."""
    try:
        return jwt.decode(
            token,
            get_settings().secret_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "uid", "exp", "iat", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired", field="token") from None
    except jwt.InvalidTokenError as e:
        raise Unauthorized(f"invalid token: {e}", field="token") from None


_ACTIVE_SQL = text("select username, role, disabled from users where id = :uid")


def token_claims_plan(token: str | None) -> Plan[dict[str, Any]]:
    """The verified claims of a bearer token whose user exists and is active, as a plan
    (:mod:`geo.db`): one indexed read, so disabling a user revokes its tokens at once.
    :class:`Unauthorized` for any problem."""
    if not token:
        raise Unauthorized("not authenticated: a bearer token is required", field="token")
    claims = decode_token(token)
    rows = yield (_ACTIVE_SQL, {"uid": claims["uid"]})
    if not rows or rows[0]["username"] != claims["sub"]:
        raise Unauthorized("token names an unknown user", field="token")
    if rows[0]["disabled"]:
        raise Unauthorized(f"user {claims['sub']!r} is disabled", field="token")
    return {**claims, "role": rows[0]["role"]}  # the role now, not when the token was issued


async def token_claims_async(reader: AsyncReader, token: str | None) -> dict[str, Any]:
    """:func:`token_claims_plan` on an async reader (the API's token check)."""
    return await arun_plan(reader, token_claims_plan(token))


def user_from_token(session: Any, token: str | None) -> User:
    """The active user a bearer token names; :class:`Unauthorized` for any problem."""
    claims = run_plan(session, token_claims_plan(token))
    return user_from_claims(session, claims)


def user_from_claims(session: Any, claims: dict[str, Any]) -> User:
    """The user object for claims already checked by :func:`token_claims_plan`."""
    user = session.get(User, claims["uid"])
    if user is None or user.username != claims["sub"] or user.disabled:
        raise Unauthorized("token names an unknown or disabled user", field="token")
    return user


def login(
    session: Any, *, username: str, password: str, client_ip: str | None
) -> tuple[User, str, dt.datetime]:
    """Check a username and password; returns (user, token, expiry). Audited either way."""
    user = find_user(session, username)
    if user is None:
        burn_password_check(password)
        why = "unknown user"
    elif not verify_password(password, user.password_hash):
        why = "wrong password"
    elif user.disabled:
        why = "user disabled"
    else:
        token, exp = create_token(user)
        audit(session, action="login", user=user, client_ip=client_ip)
        return user, token, exp
    audit_detached(
        session,
        action="login_failed",
        user=user,
        username=username[:64],
        client_ip=client_ip,
        reason=why,
    )
    # one message for every cause, so the response does not reveal which users exist
    raise Unauthorized("incorrect username or password", field="username")
