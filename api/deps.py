"""Request dependencies: the database session, the client address and the current user."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterator
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from geo.access.tokens import token_claims_async, user_cache, user_from_claims
from geo.db import AsyncReader, read_connection, session_scope
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

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


async def get_reader() -> AsyncIterator[AsyncReader]:
    """A pooled read-only connection for the request's async reads (token check, nearest)."""
    async with read_connection() as reader:
        yield reader


ReaderDep = Annotated[AsyncReader, Depends(get_reader)]


async def token_claims(
    request: Request,
    reader: ReaderDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
) -> dict[str, Any]:
    """The claims of the bearer token (``Authorization: Bearer``, or ``?access_token=`` for media
    URLs that a browser loads without headers) after checking its user exists and is active;
    401 when missing, forged, expired or disabled. Runs on the event loop: no thread hop."""
    # media URLs (<img>, <video>, the map page) carry the token as ?access_token=; read here
    # rather than declared, to keep it out of every route's schema and parameter solving
    token = bearer or request.query_params.get("access_token")
    claims = await token_claims_async(reader, token, cache=user_cache())
    request.state.claims = claims
    return claims


Claims = Annotated[dict[str, Any], Depends(token_claims)]


def current_user(request: Request, session: SessionDep, claims: Claims) -> User:
    """The user object of the (already checked) bearer token, in the request's session."""
    user = user_from_claims(session, claims)
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(current_user)]
