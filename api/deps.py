"""Request dependencies: the database session, the client address and the current user."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import AsyncIterator, Callable, Iterator
from functools import lru_cache
from typing import Annotated, Any, NoReturn, TypeVar

from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from geo.access import caller
from geo.access.tokens import set_login, token_claims_async, user_cache, user_from_claims
from geo.db import AsyncReader, get_engine, read_connection, session_scope
from geo.errors import Forbidden, Unauthorized
from geo.models.access import User
from geo.settings import get_settings


def get_session() -> Iterator[Session]:
    """One session per request; committed when the handler returns, rolled back on error."""
    with session_scope() as s:
        yield s


SessionDep = Annotated[Session, Depends(get_session)]


_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache
def _trusted(proxies: tuple[str, ...]) -> tuple[_Net, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def _is_trusted(host: str, nets: tuple[_Net, ...]) -> bool:
    try:
        addr = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return False
    return any(addr.version == n.version and addr in n for n in nets)


def client_ip(request: Request) -> str:
    """The caller's IP address as the access rules see it.

    The direct peer, unless that peer is a trusted proxy (``GOLDENTIME_TRUSTED_PROXIES``, a JSON
    list of addresses/CIDRs): then ``X-Forwarded-For`` is read from the right, skipping trusted
    hops, and the first untrusted hop is the client. A header from anyone else is ignored.
    """
    peer = request.client.host if request.client else ""
    nets = _trusted(tuple(get_settings().trusted_proxies))
    if not nets or not _is_trusted(peer, nets):
        return peer
    hops = [h.strip() for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")]
    hops = [h for h in hops if h]
    for hop in reversed(hops):
        if not _is_trusted(hop, nets):
            return hop
    return hops[0] if hops else peer


ClientIP = Annotated[str, Depends(client_ip)]


def request_is_https(request: Request) -> bool:
    """Whether the browser reached us over https: the connection's own scheme, or
    ``X-Forwarded-Proto: https`` (its right-most value, set by the nearest hop) when the peer is a
    trusted proxy (``GOLDENTIME_TRUSTED_PROXIES``, as :func:`client_ip`); anyone else's header is
    ignored. Decides the session cookies' ``Secure`` flag."""
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else ""
    nets = _trusted(tuple(get_settings().trusted_proxies))
    if not nets or not _is_trusted(peer, nets):
        return False
    protos = [
        p.strip().lower()
        for v in request.headers.getlist("x-forwarded-proto")
        for p in v.split(",")
    ]
    protos = [p for p in protos if p]
    return bool(protos) and protos[-1] == "https"


oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


async def get_reader() -> AsyncIterator[AsyncReader]:
    """A pooled read-only connection for the request's async reads (token check, nearest)."""
    async with read_connection() as reader:
        yield reader


ReaderDep = Annotated[AsyncReader, Depends(get_reader)]


#: The console's session: an HttpOnly cookie holding the bearer token, and the readable
#: double-submit cookie whose value unsafe requests repeat in :data:`CSRF_HEADER`.
SESSION_COOKIE = "gt_session"
CSRF_COOKIE = "gt_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_F = TypeVar("_F", bound=Callable[..., Any])


def media_route(kind: str) -> Callable[[_F], _F]:
    """Mark a video endpoint as one that also accepts a media token (``?mt=``) of ``kind``
    (``live``, ``snapshot``, ``clip``); every other route refuses media tokens."""

    def mark(fn: _F) -> _F:
        fn.media_kind = kind  # type: ignore[attr-defined]
        return fn

    return mark


def _csrf_ok(request: Request) -> bool:
    sent = request.headers.get(CSRF_HEADER, "")
    kept = request.cookies.get(CSRF_COOKIE, "")
    return bool(sent and kept) and hmac.compare_digest(sent.encode(), kept.encode())


def _refuse_csrf(request: Request, claims: dict[str, Any]) -> NoReturn:
    """Audit (own transaction) and refuse a cookie-authenticated unsafe request without the
    double-submit header."""
    from geo.access.audit import audit_detached

    reason = (
        f"{request.method} with the session cookie needs header {CSRF_HEADER} equal to the "
        f"{CSRF_COOKIE} cookie"
    )
    with session_scope() as s:
        audit_detached(
            s,
            action="denied",
            username=str(claims.get("sub"))[:64],
            client_ip=client_ip(request),
            reason=reason,
            detail={
                "access": "csrf",
                "code": "csrf",
                "method": request.method,
                "path": request.url.path[:200],
            },
        )
    raise Forbidden(reason, field=CSRF_HEADER, code="csrf")


def _route_label(request: Request) -> str:
    """``METHOD /route/{template}`` of a request, for audit records (never the raw URL)."""
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', '?')}"


async def _checked_claims(
    request: Request, reader: AsyncReader, token: str | None, *, media: bool = False
) -> dict[str, Any]:
    """:func:`token_claims_async`, with every 401 audited first (the user name the token
    claims and the address; bounded per address, :func:`geo.access.caller.record_unauthenticated`)."""
    try:
        return await token_claims_async(reader, token, cache=user_cache(), media=media)
    except Unauthorized as e:
        await run_in_threadpool(
            caller.record_unauthenticated,
            get_engine(),
            error=e,
            token=token,
            client_ip=client_ip(request),
            route=_route_label(request),
            path_params=request.path_params,
        )
        raise


async def token_claims(
    request: Request,
    reader: ReaderDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
) -> dict[str, Any]:
    """The claims of the caller's token after checking its user exists and is active; 401 when
    missing, forged, expired or disabled. Runs on the event loop: no thread hop.

    The token comes from the ``Authorization: Bearer`` header, else the console's HttpOnly
    session cookie (then a non-GET request needs ``X-CSRF-Token`` equal to the ``gt_csrf``
    cookie, else 403, audited); never from the query string. Only the video routes
    (:func:`media_route`) also take a media token ``?mt=``, whose claims land in
    ``request.state.media`` for the gate (camera, kind and share are checked there).

    Every route, so none can forget: a 401 is audited (bounded per address), and a client
    address outside the user's registered ranges is refused with 403, audited
    (:func:`geo.access.caller.address_allowed`, from the same read: no extra round trip).
    The login's token id and expiry go to :data:`geo.access.tokens.LOGIN_ID` / ``LOGIN_EXP``:
    the media links minted while answering carry it, so logging out that login ends them too,
    and expire no later than it.
    """
    cookie = request.cookies.get(SESSION_COOKIE)
    kind = getattr(request.scope.get("endpoint"), "media_kind", None)
    mt = request.query_params.get("mt") if kind is not None else None
    if bearer or cookie or not mt:
        claims = await _checked_claims(request, reader, bearer or cookie)
        if not bearer and request.method not in SAFE_METHODS and not _csrf_ok(request):
            await run_in_threadpool(_refuse_csrf, request, claims)
    else:
        claims = await _checked_claims(request, reader, mt, media=True)
        request.state.media = claims
    ip = client_ip(request)
    if not caller.address_allowed(claims.get("cidrs"), ip):  # every route: registered address
        await run_in_threadpool(
            caller.refuse_address,
            get_engine(),
            claims=claims,
            client_ip=ip,
            route=_route_label(request),
            path_params=request.path_params,
        )
    request.state.claims = claims
    set_login(claims)  # media links minted in this request die with it, and expire no later
    return claims


Claims = Annotated[dict[str, Any], Depends(token_claims)]


def media_claims(
    request: Request,
    claims: Claims,
    mt: Annotated[
        str | None,
        Query(
            max_length=2048,
            description="media token of a video link (instead of the Authorization header; "
            "one user, camera, share and kind, a few minutes)",
        ),
    ] = None,
) -> dict[str, Any] | None:
    """The media token's claims when the request was authenticated by ``?mt=``, else ``None``."""
    return getattr(request.state, "media", None)


MediaClaims = Annotated[dict[str, Any] | None, Depends(media_claims)]


def current_user(request: Request, session: SessionDep, claims: Claims) -> User:
    """The user object of the (already checked) bearer token, in the request's session."""
    user = user_from_claims(session, claims)
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(current_user)]
