"""Authentication: password login and signed bearer tokens (JWT, HS256, ``settings.secret_key``).

A token names its user; every request re-reads the user, so disabling an account revokes its
tokens at once. Logins, good and bad, are audited (failures in their own transaction, so they
persist although the login is refused).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any, cast

import jwt
from sqlalchemy import text

from geo.access.audit import audit, audit_detached
from geo.access.users import burn_password_check, find_user, verify_password
from geo.db import AsyncReader, Plan, arun_plan, database_url, per_loop, psycopg_kwargs
from geo.errors import TooManyRequests, Unauthorized
from geo.models.access import User
from geo.settings import get_settings

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


#: Verified tokens by (secret, token): the signature and claims of a token never change, only
#: the clock does, so a hit re-checks ``exp`` and skips the HMAC and parsing (about 8 % of a
#: nearest request's CPU). Bounded: cleared when full.
_VERIFIED: dict[tuple[str, str], dict[str, Any]] = {}
_VERIFIED_MAX = 4096


def decode_token(token: str) -> dict[str, Any]:
    """The verified claims of ``token``; :class:`Unauthorized` saying why otherwise."""
    key = get_settings().secret_key
    hit = _VERIFIED.get((key, token))
    if hit is not None:
        if hit["exp"] > time.time():
            return dict(hit)
        _VERIFIED.pop((key, token), None)
        raise Unauthorized("token expired", field="token")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "uid", "exp", "iat", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired", field="token") from None
    except jwt.InvalidTokenError as e:
        raise Unauthorized(f"invalid token: {e}", field="token") from None
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[(key, token)] = claims
    return dict(claims)


_ACTIVE_SQL = text("select username, role, disabled from users where id = :uid")
NOTIFY_CHANNEL = "goldentime_users"


class ActiveUserCache:
    """Per-process memo of the token check's user rows, dropped on every change to ``users``.

    A trigger (migration 0007) sends ``NOTIFY goldentime_users`` after each committed change; a
    background task LISTENs and clears the memo. Entries are trusted only while that LISTEN
    connection is up (otherwise every check reads the database, as without the cache) and for at
    most ``max_age_s``. A row read while a change arrives is not stored (generation counter), so
    disabling a user revokes its tokens as soon as the notification is delivered (milliseconds).
    """

    def __init__(self, url: str, max_age_s: float) -> None:
        self.url = url
        self.max_age_s = max_age_s
        self.rows: dict[int, tuple[float, dict[str, Any]]] = {}
        self.generation = 0
        self.listening = False
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the LISTEN task in the running loop (reconnects with backoff)."""
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        import psycopg

        delay = 0.5
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    **psycopg_kwargs(self.url), autocommit=True
                )
                async with conn:
                    await conn.execute(f"listen {NOTIFY_CHANNEL}")
                    self.invalidate()
                    self.listening = True
                    delay = 0.5
                    async for _ in conn.notifies():
                        self.invalidate()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away: no memo until we listen again
                pass
            finally:
                self.listening = False
                self.invalidate()
            await asyncio.sleep(delay)
            delay = min(2 * delay, 30.0)

    def invalidate(self) -> None:
        self.generation += 1
        self.rows.clear()

    def get(self, uid: int) -> dict[str, Any] | None:
        if not self.listening:
            return None
        hit = self.rows.get(uid)
        if hit is None or time.monotonic() - hit[0] > self.max_age_s:
            return None
        return hit[1]

    def put(self, uid: int, row: dict[str, Any], generation: int) -> None:
        if self.listening and generation == self.generation:
            self.rows[uid] = (time.monotonic(), row)


_CACHES: dict[str, tuple[Any, Any]] = {}


def user_cache() -> ActiveUserCache | None:
    """This process's :class:`ActiveUserCache` for the running loop (``None`` when
    ``settings.auth_cache_s`` is 0: every token check reads the database)."""
    s = get_settings()
    if s.auth_cache_s <= 0:
        return None
    url = database_url()
    cache, new = per_loop(_CACHES, url, lambda: ActiveUserCache(url, s.auth_cache_s))
    if new:
        cache.start()
    return cast(ActiveUserCache, cache)


def token_claims_plan(
    token: str | None, *, cache: ActiveUserCache | None = None
) -> Plan[dict[str, Any]]:
    """The verified claims of a bearer token whose user exists and is active, as a plan
    (:mod:`geo.db`): one indexed read (or the notified memo), so disabling a user revokes its
    tokens at once. :class:`Unauthorized` for any problem."""
    if not token:
        raise Unauthorized("not authenticated: a bearer token is required", field="token")
    claims = decode_token(token)
    uid = int(claims["uid"])
    row = cache.get(uid) if cache is not None else None
    if row is None:
        generation = cache.generation if cache is not None else 0
        rows = yield (_ACTIVE_SQL, {"uid": uid})
        if rows:
            row = dict(rows[0])
            if cache is not None:
                cache.put(uid, row, generation)
    if row is None or row["username"] != claims["sub"]:
        raise Unauthorized("token names an unknown user", field="token")
    if row["disabled"]:
        raise Unauthorized(f"user {claims['sub']!r} is disabled", field="token")
    return {**claims, "role": row["role"]}  # the role now, not when the token was issued


async def token_claims_async(
    reader: AsyncReader, token: str | None, *, cache: ActiveUserCache | None = None
) -> dict[str, Any]:
    """:func:`token_claims_plan` on an async reader (the API's token check)."""
    return await arun_plan(reader, token_claims_plan(token, cache=cache))


def user_from_claims(session: Any, claims: dict[str, Any]) -> User:
    """The user object for claims already checked by :func:`token_claims_plan`."""
    user = session.get(User, claims["uid"])
    if user is None or user.username != claims["sub"] or user.disabled:
        raise Unauthorized("token names an unknown or disabled user", field="token")
    return user


_FAILURES_SQL = text("""
    select count(*) filter (where username = :u) as by_user, count(*) as by_ip
    from audit_log
    where action = 'login_failed' and client_ip = :ip
      and at > now() - make_interval(secs => :w)""")


def check_login_rate(session: Any, *, username: str, client_ip: str | None) -> None:
    """Refuse a login attempt (429) after too many recent failures from this address: for this
    username (``login_max_failures``) or for any (``login_max_failures_per_ip``), within
    ``login_window_s``. Counted per address, so nobody can lock an officer out from elsewhere;
    counted in the audit log, so every worker sees the same count."""
    if client_ip is None:
        return
    s = get_settings()
    row = session.execute(
        _FAILURES_SQL, {"u": username[:64], "ip": client_ip, "w": s.login_window_s}
    ).one()
    if row.by_user >= s.login_max_failures or row.by_ip >= s.login_max_failures_per_ip:
        why = (
            f"too many failed logins from {client_ip} in the last {s.login_window_s} s; "
            f"try again later"
        )
        audit_detached(
            session,
            action="login_failed",
            username=username[:64],
            client_ip=client_ip,
            reason="rate limited",
        )
        raise TooManyRequests(why, field="username", retry_after_s=s.login_window_s)


def login(
    session: Any, *, username: str, password: str, client_ip: str | None
) -> tuple[User, str, dt.datetime]:
    """Check a username and password; returns (user, token, expiry). Audited either way;
    refused without checking the password after too many failures (:func:`check_login_rate`)."""
    check_login_rate(session, username=username, client_ip=client_ip)
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
