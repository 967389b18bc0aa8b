"""Logout: the access token that logs out is revoked, not merely forgotten by the browser.

A signed token stays valid until it expires (8 h by default), so clearing the console's cookie
alone leaves a copied token working. :func:`logout` stores the token's id (``jti``, see
:func:`geo.access.tokens.token_id`) in ``revoked_tokens`` until the token's own expiry; the
token check reads it in the same query as the user row (:data:`geo.access.tokens._ACTIVE_SQL`),
so a revoked token is refused (401, audited like every refused token) on every route and in
every worker (the insert notifies the workers' memo, migration ``0012_revoked_tokens``).

The media links (``?mt=``, 5 minutes) minted under a login carry its id (claim ``sid``) and are
checked against the same row, in the same read and memo: logging out ends them too, and the live
streams opened with that login or its links within ``live_recheck_s``
(:func:`geo.access.streams.still_allowed`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.access.audit import audit
from geo.access.tokens import decode_token, token_id
from geo.errors import Unauthorized
from geo.models.access import User

_REVOKE_SQL = text("""
    insert into revoked_tokens (jti, user_id, expires_at) values (:jti, :uid, :exp)
    on conflict (jti) do nothing returning jti""")

#: Rows of tokens that have expired anyway are of no use: dropped at each logout.
_PURGE_SQL = text("delete from revoked_tokens where expires_at < now()")


def logout(session: Session, *, token: str | None, client_ip: str | None) -> bool:
    """Revoke ``token`` (a valid access token of an existing user) until its expiry and audit
    the ``logout``, in the caller's transaction; returns whether a token was revoked now.

    A missing, forged, expired or already revoked token revokes nothing and raises nothing:
    logging out twice, or with a dead session, still ends the browser's session.
    """
    if not token:
        return False
    try:
        claims = decode_token(token)
    except Unauthorized:
        return False
    user = session.get(User, int(claims["uid"]))
    if user is None or user.username != claims["sub"]:
        return False
    jti = token_id(token, claims)
    exp = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
    session.execute(_PURGE_SQL)
    if session.execute(_REVOKE_SQL, {"jti": jti, "uid": user.id, "exp": exp}).first() is None:
        return False  # already logged out
    audit(
        session,
        action="logout",
        user=user,
        client_ip=client_ip,
        reason="logged out: token revoked",
        detail={"jti": jti, "token_expires_at": exp.isoformat()},
    )
    return True


__all__ = ["logout"]
