"""``/api/auth``: the OAuth2 password flow (the only ``/api`` route that needs no token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import ClientIP, CurrentUser, SessionDep
from geo.access import tokens as auth
from geo.access.users import user_dict

router = APIRouter(prefix="/api/auth", tags=["auth"])

#: api/main.py leaves this router out of the global token requirement.
PUBLIC = True


@router.post("/token")
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    ip: ClientIP,
) -> dict[str, Any]:
    """Exchange username and password (form fields) for a bearer token; audited either way."""
    user, tok, exp = auth.login(
        session, username=form.username, password=form.password, client_ip=ip
    )
    return {
        "access_token": tok,
        "token_type": "bearer",
        "expires_at": exp.isoformat(),
        "user": user_dict(user),
    }


@router.get("/me")
def me(user: CurrentUser, ip: ClientIP) -> dict[str, Any]:
    """Who the token belongs to, and the address the access rules see for this request."""
    return {**user_dict(user), "client_ip": ip}
