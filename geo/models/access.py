"""Lawful access tables: agencies, users with roles and registered IP ranges, shares, audit log.

The audit log is append-only and hash-chained by the database itself (see
``geo/migrations/versions/0002_access.py``); it has no foreign keys on purpose, so a record of who
saw what outlives the users, incidents and shares it names.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, CIDR, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.access.roles import ROLES
from geo.models.base import Base

SHARE_KINDS = ("request", "push")
#: A share's approval: within policy (``auto``), beyond it and waiting for a supervisor
#: (``pending``), then ``approved`` or ``refused`` (see :mod:`geo.access.policy`).
SHARE_APPROVALS = ("auto", "pending", "approved", "refused")


def _in(col: str, values: tuple[str, ...]) -> str:
    return f"{col} in ({', '.join(repr(v) for v in values)})"


class Agency(Base):
    """An organisation users belong to (a police station, a fire HQ, the CCTV control centre)."""

    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class User(Base):
    """A person who logs in: one role, one agency, the IP ranges (CIDR) they may work from."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="ck_users_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    allowed_cidrs: Mapped[list[Any]] = mapped_column(
        ARRAY(CIDR), server_default=text("'{}'::cidr[]")
    )
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    agency: Mapped[Agency | None] = relationship(lazy="joined")

    @property
    def agency_name(self) -> str | None:
        return self.agency.name if self.agency is not None else None


class Share(Base):
    """Cameras made visible to one user or one agency for a reason, a time window and a while.

    ``live`` allows live view from ``granted_at`` until ``expires_at``; ``past_start``/``past_end``
    bound recorded video. Revoked or expired shares open nothing.
    """

    __tablename__ = "shares"
    __table_args__ = (
        CheckConstraint(_in("kind", SHARE_KINDS), name="ck_shares_kind"),
        CheckConstraint(
            "granted_to_user_id is not null or granted_to_agency_id is not null",
            name="ck_shares_recipient",
        ),
        CheckConstraint(
            "past_start is null or past_end is null or past_start <= past_end",
            name="ck_shares_window",
        ),
        CheckConstraint("expires_at > granted_at", name="ck_shares_expiry"),
        CheckConstraint(_in("approval", SHARE_APPROVALS), name="ck_shares_approval"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )
    case_number: Mapped[str | None] = mapped_column(String(64), index=True)
    granted_to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    granted_to_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    granted_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    live: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    past_start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    past_end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    granted_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text)
    face_blur: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    # the approval loop (migration 0008_policy): who decided a request beyond policy, when, why
    approval: Mapped[str] = mapped_column(String(16), server_default="auto", default="auto")
    approved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    approval_reason: Mapped[str | None] = mapped_column(Text)
    policy_reasons: Mapped[list[str] | None] = mapped_column(ARRAY(Text))

    granted_to_user: Mapped[User | None] = relationship(foreign_keys=[granted_to_user_id])
    granted_to_agency: Mapped[Agency | None] = relationship(foreign_keys=[granted_to_agency_id])
    granted_by: Mapped[User] = relationship(foreign_keys=[granted_by_user_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_user_id])
    cameras: Mapped[list[ShareCamera]] = relationship(
        cascade="all, delete-orphan", order_by="ShareCamera.position", lazy="selectin"
    )

    @property
    def camera_ids(self) -> list[int]:
        return [c.camera_id for c in self.cameras]


class ShareCamera(Base):
    """One camera of a share (``position`` keeps the ranking the share was made with)."""

    __tablename__ = "share_cameras"

    share_id: Mapped[int] = mapped_column(
        ForeignKey("shares.id", ondelete="CASCADE"), primary_key=True
    )
    camera_id: Mapped[int] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, server_default="0")


class AuditLog(Base):
    """One append-only, hash-chained audit record (see :mod:`geo.audit`).

    ``id`` is the insertion order; ``seq``/``prev_hash``/``hash`` are set by the database when the
    inserting transaction commits (a deferred trigger), so ``seq`` is the commit order the chain
    follows.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_action", "action"),
        Index("ix_audit_log_username", "username"),
        Index("ix_audit_log_case_number", "case_number"),
        Index("ix_audit_log_camera_ids", "camera_ids", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("clock_timestamp()")
    )
    action: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))
    agency: Mapped[str | None] = mapped_column(Text)
    client_ip: Mapped[str | None] = mapped_column(Text)
    case_number: Mapped[str | None] = mapped_column(String(64))
    incident_id: Mapped[int | None] = mapped_column(Integer)
    share_id: Mapped[int | None] = mapped_column(Integer)
    camera_ids: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    window_start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[Any | None] = mapped_column(JSONB)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
