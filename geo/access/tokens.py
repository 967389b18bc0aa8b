"""Authentication: password login and signed tokens (JWT, HS256, keys of :mod:`geo.access.keys`).

Two kinds of token, told apart by the ``typ`` claim: the bearer (access) token of a login, sent
in the ``Authorization`` header or the console's HttpOnly cookie, and the short-lived media
token (``?mt=``) of one video link. Each names its signing key in the JWT header (``kid``).
A media token minted during a request carries the id of the login it was minted under (``sid``,
from :data:`LOGIN_ID`) and is refused as soon as that login is revoked (logged out); it
expires no later than that login (:data:`LOGIN_EXP`).

A token names its user; every request re-reads the user, so disabling an account revokes its
tokens at once. An access token also has an id (``jti``); logging out revokes that one token
(:mod:`geo.access.revocation`, table ``revoked_tokens``), checked in the same read. Logins, good
and bad, are audited (failures in their own transaction, so they persist although the login is
refused).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
import time
from contextvars import ContextVar
from typing import Any, cast

import jwt
from sqlalchemy import text

from geo.access.keys import signing_key, verification_key
from geo.db import AsyncReader, Plan, arun_plan, database_url, per_loop, psycopg_kwargs
from geo.errors import InvalidInput, Unauthorized
from geo.models.access import User
from geo.settings import get_settings

ALGORITHM = "HS256"
ISSUER = "goldentime"
#: ``typ`` claim of a bearer (access) token and of a media token (``?mt=`` in video links).
ACCESS = "access"
MEDIA = "media"
#: What a media token may open: the video routes, one kind each.
MEDIA_KINDS = ("live", "snapshot", "clip")
#: The share id of a media token for the control centre's live monitoring (no share).
MONITORING = "monitoring"
#: The id (:func:`token_id`) of the login (access token) the current request stands on, set by
#: the API's token check (``api.deps.token_claims``); a media token minted in that request
#: carries it as ``sid`` and dies with that login (logout). ``None`` outside a request.
LOGIN_ID: ContextVar[str | None] = ContextVar("goldentime_login_id", default=None)
#: When that login expires (its token's ``exp``, epoch seconds), set beside :data:`LOGIN_ID` by
#: :func:`set_login`: a media token minted in the request expires no later, so an expired login
#: leaves no working video link behind. ``None`` outside a request.
LOGIN_EXP: ContextVar[int | None] = ContextVar("goldentime_login_exp", default=None)
#: Longest token id: a ``jti`` (at most 64) or ``sha256:`` + 64 hex digits (:func:`token_id`).
_TOKEN_ID_MAX = 71


def _sign(claims: dict[str, Any]) -> str:
    key = signing_key()
    return jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})


def create_token(
    user: User, *, ttl_s: int | None = None, now: dt.datetime | None = None
) -> tuple[str, dt.datetime]:
    """A signed access token for ``user`` and its expiry (``settings.token_ttl_s`` by default),
    signed by the current key (:mod:`geo.access.keys`), whose id is in the header."""
    s = get_settings()
    now = now or dt.datetime.now(dt.UTC)
    exp = now + dt.timedelta(seconds=s.token_ttl_s if ttl_s is None else ttl_s)
    claims = {
        "sub": user.username,
        "uid": user.id,
        "role": user.role,
        "typ": ACCESS,
        "iss": ISSUER,
        "jti": secrets.token_urlsafe(16),
        "iat": int(now.timestamp()),
        "exp": int(exp.timestamp()),
    }
    return _sign(claims), exp


def token_id(token: str, claims: dict[str, Any]) -> str:
    """The id logout revokes: the ``jti`` claim, or for a token without one (issued before
    tokens had ids) a digest of the token itself, so every token can be revoked."""
    jti = claims.get("jti")
    if isinstance(jti, str) and 0 < len(jti) <= 64:
        return jti
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def set_login(claims: dict[str, Any]) -> None:
    """Bind the current request to the login of its checked claims (:func:`token_claims_plan`):
    :data:`LOGIN_ID` and :data:`LOGIN_EXP`, the one place both are set (``api.deps.token_claims``).
    On a video route opened with a media link it is that link's login and expiry."""
    exp = claims.get("exp")
    LOGIN_ID.set(claims.get("login_id"))
    LOGIN_EXP.set(int(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None)


def media_token_expiry(
    *, ttl_s: int | None = None, now: dt.datetime | None = None, login_exp: int | None = None
) -> dt.datetime:
    """When a media token minted at ``now`` expires: ``ttl_s`` (``settings.media_token_ttl_s``)
    later, but never after the login it is minted under (``login_exp``, default the request's
    :data:`LOGIN_EXP`; none outside a request). The API reports this as the links' expiry."""
    now = now or dt.datetime.now(dt.UTC)
    ttl = get_settings().media_token_ttl_s if ttl_s is None else ttl_s
    exp = now + dt.timedelta(seconds=ttl)
    cap = login_exp if login_exp is not None else LOGIN_EXP.get()
    if cap is not None and cap < exp.timestamp():
        exp = dt.datetime.fromtimestamp(cap, dt.UTC)
    return exp


def create_media_token(
    user: User,
    *,
    camera_id: int,
    share_id: int | str,
    kind: str,
    ttl_s: int | None = None,
    now: dt.datetime | None = None,
    login_id: str | None = None,
    login_exp: int | None = None,
) -> tuple[str, dt.datetime]:
    """A short-lived token for one video link (``?mt=``): one user, one camera, one share (or
    :data:`MONITORING`), one kind (live, snapshot, clip); ``settings.media_token_ttl_s``.
    Accepted only by the video routes, which still ask the gate with that share.

    ``login_id`` (default: the request's :data:`LOGIN_ID`) binds the link to the login that
    asked for it (claim ``sid``): it stops working when that login is logged out. It also
    expires no later than that login (``login_exp``, default the request's :data:`LOGIN_EXP`;
    :func:`media_token_expiry`). A token minted outside a request (scripts, tests) has no
    ``sid`` and follows the user only."""
    if kind not in MEDIA_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(MEDIA_KINDS)}", field="kind")
    now = now or dt.datetime.now(dt.UTC)
    exp = media_token_expiry(ttl_s=ttl_s, now=now, login_exp=login_exp)
    claims = {
        "sub": user.username,
        "uid": user.id,
        "typ": MEDIA,
        "cam": int(camera_id),
        "shr": share_id,
        "knd": kind,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int(exp.timestamp()),
    }
    sid = login_id if login_id is not None else LOGIN_ID.get()
    if sid:
        claims["sid"] = sid
    return _sign(claims), exp


#: Verified tokens by (secret, token): the signature and claims of a token never change, only
#: the clock does, so a hit re-checks ``exp`` and skips the HMAC and parsing (about 8 % of a
#: nearest request's CPU). Bounded: cleared when full.
_VERIFIED: dict[tuple[str, str], dict[str, Any]] = {}
_VERIFIED_MAX = 4096


#: The key id named in a token's header, by token: parsing the header (base64 and JSON) was
#: about 20 us of every request. Only the id is memoised: the key is looked up each time, so a
#: retired key still refuses its tokens. Bounded: cleared when full.
_KIDS: dict[str, str] = {}


def _key_for(token: str) -> str:
    """The secret of the key the token's header names; :class:`Unauthorized` otherwise."""
    kid = _KIDS.get(token)
    if kid is None:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as e:
            raise Unauthorized(f"invalid token: {e}", field="token") from None
        if isinstance(kid, str) and kid:
            if len(_KIDS) >= _VERIFIED_MAX:
                _KIDS.clear()
            _KIDS[token] = kid
    if not isinstance(kid, str) or not kid:
        raise Unauthorized("invalid token: no key id (kid) in its header", field="token")
    key = verification_key(kid)
    if key is None:
        raise Unauthorized(f"invalid token: unknown or retired key id {kid!r}", field="token")
    return key.secret


def _check_typ(claims: dict[str, Any], typ: str) -> None:
    """Refuse a token of another kind than ``typ`` (a media token as a bearer token, say)."""
    if claims.get("typ") != typ:
        wanted = "an access token" if typ == ACCESS else "a media token (?mt=)"
        raise Unauthorized(
            f"invalid token: a {claims.get('typ') or 'untyped'} token is not accepted here, "
            f"only {wanted}",
            field="token",
        )


def _verify(token: str, *, typ: str, require: list[str]) -> dict[str, Any]:
    key = _key_for(token)
    hit = _VERIFIED.get((key, token))
    if hit is not None:
        if hit["exp"] <= time.time():
            _VERIFIED.pop((key, token), None)
            raise Unauthorized("token expired", field="token")
        _check_typ(hit, typ)  # a memoised media token is still no access token (and vice versa)
        return dict(hit)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": require},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired", field="token") from None
    except jwt.InvalidTokenError as e:
        raise Unauthorized(f"invalid token: {e}", field="token") from None
    _check_typ(claims, typ)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[(key, token)] = claims
    return dict(claims)


def decode_token(token: str) -> dict[str, Any]:
    """The verified claims of a bearer (access) token; :class:`Unauthorized` saying why
    otherwise: no or unknown key id, bad signature, expired, or not an access token (a media
    token is refused here)."""
    return _verify(token, typ=ACCESS, require=["sub", "uid", "exp", "iat", "iss", "typ"])


def decode_media_token(token: str) -> dict[str, Any]:
    """The verified claims of a media token (``?mt=``); :class:`Unauthorized` otherwise."""
    claims = _verify(
        token,
        typ=MEDIA,
        require=["sub", "uid", "exp", "iat", "iss", "typ", "cam", "shr", "knd"],
    )
    shr, sid = claims["shr"], claims.get("sid")
    if (
        not (isinstance(claims["cam"], int) and claims["knd"] in MEDIA_KINDS)
        or not (shr == MONITORING or (isinstance(shr, int) and not isinstance(shr, bool)))
        or not (sid is None or (isinstance(sid, str) and 0 < len(sid) <= _TOKEN_ID_MAX))
    ):
        raise Unauthorized("invalid media token: malformed scope", field="mt")
    return claims


#: The token check's one read; ``cidrs`` (the registered addresses) lets the gate check the
#: client address on every route without another round trip (geo.access.gate.address_allowed);
#: ``revoked``: this token was logged out (``revoked_tokens``, primary-key lookup).
_ACTIVE_SQL = text(
    "select username, role, disabled, allowed_cidrs::text[] as cidrs, "
    "exists (select 1 from revoked_tokens r where r.jti = :jti) as revoked "
    "from users where id = :uid"
)
#: Token ids remembered as "not revoked" per user in the memo; beyond that the set restarts.
_MEMO_TOKENS_MAX = 64
NOTIFY_CHANNEL = "goldentime_users"


class ActiveUserCache:
    """Per-process memo of the token check's user rows, dropped on every change to ``users``.

    A trigger (migration 0007) sends ``NOTIFY goldentime_users`` after each committed change; a
    background task LISTENs and clears the memo. Entries are trusted only while that LISTEN
    connection is up (otherwise every check reads the database, as without the cache) and for at
    most ``max_age_s``. A row read while a change arrives is not stored (generation counter), so
    disabling a user revokes its tokens as soon as the notification is delivered (milliseconds).
    A row serves only the token ids seen not revoked with it; a logout (insert into
    ``revoked_tokens``) notifies the same channel (migration 0012), so it drops the memo too.
    """

    def __init__(self, url: str, max_age_s: float) -> None:
        self.url = url
        self.max_age_s = max_age_s
        self.rows: dict[int, tuple[float, dict[str, Any]]] = {}
        self.tokens: dict[int, set[str]] = {}  # token ids seen not revoked, per user
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
        self.tokens.clear()

    def get(self, uid: int, jti: str | None = None) -> dict[str, Any] | None:
        """The memoised row of ``uid``, only for a token id (``jti``) already seen not revoked."""
        if not self.listening:
            return None
        hit = self.rows.get(uid)
        if hit is None or time.monotonic() - hit[0] > self.max_age_s:
            return None
        if jti is not None and jti not in self.tokens.get(uid, ()):
            return None
        return hit[1]

    def put(self, uid: int, row: dict[str, Any], generation: int, jti: str | None = None) -> None:
        if self.listening and generation == self.generation:
            self.rows[uid] = (time.monotonic(), row)
            if jti is not None:
                seen = self.tokens.setdefault(uid, set())
                if len(seen) >= _MEMO_TOKENS_MAX:
                    seen.clear()
                seen.add(jti)


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
    token: str | None, *, cache: ActiveUserCache | None = None, media: bool = False
) -> Plan[dict[str, Any]]:
    """The verified claims of a bearer token (with ``media``: a media token) whose user exists
    and is active, as a plan (:mod:`geo.db`): one indexed read (or the notified memo), so
    disabling a user revokes its tokens at once. :class:`Unauthorized` for any problem.

    A bearer token must not be revoked (logged out); a media token must not come from a login
    that was (its ``sid``, checked with the same read and memo as that login's bearer token).
    The claims gain ``login_id``: that login's token id (``None``: a media token without one)."""
    if not token:
        raise Unauthorized(
            "not authenticated: a bearer token (Authorization header or session cookie) is "
            "required",
            field="token",
        )
    claims = decode_media_token(token) if media else decode_token(token)
    uid = int(claims["uid"])
    login_id: str | None = claims.get("sid") if media else token_id(token, claims)
    jti = login_id or token_id(token, claims)
    row = cache.get(uid, jti) if cache is not None else None
    if row is None:
        generation = cache.generation if cache is not None else 0
        rows = yield (_ACTIVE_SQL, {"uid": uid, "jti": jti})
        if rows:
            row = dict(rows[0])
            if cache is not None and not row["revoked"]:
                cache.put(uid, row, generation, jti)
    if row is None or row["username"] != claims["sub"]:
        raise Unauthorized("token names an unknown user", field="token")
    if row["disabled"]:
        raise Unauthorized(f"user {claims['sub']!r} is disabled", field="token")
    if row.get("revoked"):
        if media:
            raise Unauthorized(
                "media link refused: the login it was issued to was logged out (token revoked)",
                field="mt",
            )
        raise Unauthorized("token was revoked (logged out)", field="token")
    # the role and registered addresses now, not when the token was issued
    return {**claims, "role": row["role"], "cidrs": row.get("cidrs") or [], "login_id": login_id}


async def token_claims_async(
    reader: AsyncReader,
    token: str | None,
    *,
    cache: ActiveUserCache | None = None,
    media: bool = False,
) -> dict[str, Any]:
    """:func:`token_claims_plan` on an async reader (the API's token check)."""
    return await arun_plan(reader, token_claims_plan(token, cache=cache, media=media))


def user_from_claims(session: Any, claims: dict[str, Any]) -> User:
    """The user object for claims already checked by :func:`token_claims_plan`."""
    user = session.get(User, claims["uid"])
    if user is None or user.username != claims["sub"] or user.disabled:
        raise Unauthorized("token names an unknown or disabled user", field="token")
    return user
