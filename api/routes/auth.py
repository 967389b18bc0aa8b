"""``/api/auth``: the OAuth2 password flow and the console's cookie session (no token needed).

``POST /api/auth/token`` answers a bearer token for the ``Authorization`` header (scripts, GIS
clients, Swagger UI). ``POST /api/auth/session`` (same login, same throttle) keeps the token in
an HttpOnly, SameSite=Strict cookie the page's scripts cannot read, beside a readable ``gt_csrf``
cookie that every non-GET request must repeat in ``X-CSRF-Token`` (double submit, checked by
:func:`api.deps.token_claims`). The token is never accepted in the query string.
``DELETE /api/auth/session`` logs out: the token it carries (header or cookie) is revoked.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    ClientIP,
    CurrentUser,
    SessionDep,
    oauth2_scheme,
    request_is_https,
)
from geo.access.login import login
from geo.access.revocation import logout
from geo.access.users import user_dict
from geo.models.access import User

router = APIRouter(prefix="/api/auth", tags=["auth"])

#: api/main.py leaves this router out of the global token requirement.
PUBLIC = True


def _login(
    form: OAuth2PasswordRequestForm, session: SessionDep, ip: str
) -> tuple[User, str, dt.datetime]:
    return login(session, username=form.username, password=form.password, client_ip=ip)


@router.post("/token")
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    ip: ClientIP,
) -> dict[str, Any]:
    """Exchange username and password (form fields) for a bearer token; audited either way."""
    user, tok, exp = _login(form, session, ip)
    return {
        "access_token": tok,
        "token_type": "bearer",
        "expires_at": exp.isoformat(),
        "user": user_dict(user),
    }


@router.post("/session")
def open_session(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    ip: ClientIP,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    """Log a browser in: the same login (and throttle) as ``/api/auth/token``, but the token goes
    into the HttpOnly cookie ``gt_session``; ``csrf_token`` (also the ``gt_csrf`` cookie) must be
    sent as ``X-CSRF-Token`` with every non-GET request."""
    user, tok, exp = _login(form, session, ip)
    csrf = secrets.token_urlsafe(32)
    max_age = max(0, int((exp - dt.datetime.now(dt.UTC)).total_seconds()))
    secure = request_is_https(request)
    response.set_cookie(
        SESSION_COOKIE,
        tok,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=False,
        samesite="strict",
    )
    return {"expires_at": exp.isoformat(), "csrf_token": csrf, "user": user_dict(user)}


@router.delete("/session", status_code=204)
def close_session(
    request: Request,
    session: SessionDep,
    ip: ClientIP,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
) -> Response:
    """Log out: the token this request carries (``Authorization`` header, else the session
    cookie) is revoked until it would have expired, audited as ``logout``, and both session
    cookies are cleared. Any later use of that token is refused (401). Without a live token it
    only clears the cookies."""
    logout(session, token=bearer or request.cookies.get(SESSION_COOKIE), client_ip=ip)
    response = Response(status_code=204)
    secure = request_is_https(request)
    for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", secure=secure, httponly=http_only, samesite="strict")
    return response


@router.get("/me")
def me(user: CurrentUser, ip: ClientIP) -> dict[str, Any]:
    """Who the token (header or session cookie) belongs to, and the address the access rules
    see for this request."""
    return {**user_dict(user), "client_ip": ip}
