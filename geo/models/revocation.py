"""Logged-out access tokens (migration ``0012_revoked_tokens``; :mod:`geo.access.revocation`).

One row per token revoked by logout, kept only until the token would have expired anyway
(``expires_at``), so the table holds at most the tokens logged out within one token lifetime.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import Base


class RevokedToken(Base):
    """Token ``jti`` (see :func:`geo.access.tokens.token_id`) of ``user_id`` is refused until
    ``expires_at``, its own expiry, after which the row is purged."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(80), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
