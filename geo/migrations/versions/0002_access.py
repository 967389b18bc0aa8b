"""access: agencies, users, shares, append-only hash-chained audit log

Revision ID: 0002_access
Revises: 0001_foundation
Create Date: 2026-11-28

The audit chain is kept by the database, not by the application:

* ``audit_log_prepare`` (BEFORE INSERT) stamps ``at`` with the server clock and clears
  ``seq``/``prev_hash``/``hash`` so no client can insert a pre-chained or back-dated row;
* ``audit_log_chain`` (a DEFERRABLE INITIALLY DEFERRED constraint trigger, AFTER INSERT) runs when
  the inserting transaction commits: it locks the one-row ``audit_chain_head`` (``FOR UPDATE``),
  gives the row the next ``seq`` and ``hash = sha256(prev_hash || '\\n' || canonical content)``,
  and advances the head. The row lock serialises concurrent commits, so the chain never forks;
  it is held only for the commit itself, and a transaction that rolls back never touches it;
* ``audit_log_guard`` refuses UPDATE and DELETE (except the chain trigger's own one-time stamp of
  an unhashed row) and TRUNCATE; ``audit_chain_head`` is likewise writable only from the trigger.

``audit_log_content(audit_log)`` is the canonical content (a JSON array); ``goldentime audit
verify`` recomputes every hash with ``audit_log_digest`` and compares.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_access"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLES = ("operator", "police", "fire", "disaster", "investigator", "planner", "auditor", "admin")

_TS = '\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\''

_FUNCTIONS = f"""
create function audit_log_content(a audit_log) returns text
language sql stable as $$
  select jsonb_build_array(
    a.seq, a.id, to_char(a.at at time zone 'UTC', {_TS}), a.action, a.user_id, a.username,
    a.role, a.agency, a.client_ip, a.case_number, a.incident_id, a.share_id,
    to_jsonb(a.camera_ids),
    to_char(a.window_start at time zone 'UTC', {_TS}),
    to_char(a.window_end at time zone 'UTC', {_TS}),
    a.reason, a.detail)::text
$$;

create function audit_log_digest(prev text, a audit_log) returns text
language sql stable as $$
  select encode(sha256(convert_to(coalesce(prev, '') || E'\\n' || audit_log_content(a), 'UTF8')),
                'hex')
$$;

create function audit_log_prepare() returns trigger
language plpgsql as $$
begin
  new.at := clock_timestamp();
  new.seq := null;
  new.prev_hash := null;
  new.hash := null;
  return new;
end
$$;

create function audit_log_chain() returns trigger
language plpgsql as $$
declare
  head record;
  r audit_log;
begin
  select last_seq, last_hash into head from audit_chain_head where id = 1 for update;
  r := new;
  r.seq := head.last_seq + 1;
  r.prev_hash := head.last_hash;
  r.hash := audit_log_digest(head.last_hash, r);
  update audit_log set seq = r.seq, prev_hash = r.prev_hash, hash = r.hash where id = new.id;
  update audit_chain_head set last_seq = r.seq, last_hash = r.hash, updated_at = clock_timestamp()
   where id = 1;
  return null;
end
$$;

create function audit_log_guard() returns trigger
language plpgsql as $$
begin
  if tg_op = 'UPDATE' and pg_trigger_depth() > 1 then
    if old.hash is null and new.hash is not null
       and (to_jsonb(old) - 'seq' - 'prev_hash' - 'hash')
           = (to_jsonb(new) - 'seq' - 'prev_hash' - 'hash') then
      return new;
    end if;
  end if;
  raise exception 'audit_log is append-only: % refused', tg_op
    using errcode = 'insufficient_privilege';
end
$$;

create function audit_chain_head_guard() returns trigger
language plpgsql as $$
begin
  if tg_op = 'UPDATE' and pg_trigger_depth() > 1 then
    return new;
  end if;
  raise exception 'audit_chain_head is maintained by the audit trigger only: % refused', tg_op
    using errcode = 'insufficient_privilege';
end
$$;

create trigger audit_log_prepare before insert on audit_log
  for each row execute function audit_log_prepare();
create constraint trigger audit_log_chain after insert on audit_log
  deferrable initially deferred for each row execute function audit_log_chain();
create trigger audit_log_guard before update or delete on audit_log
  for each row execute function audit_log_guard();
create trigger audit_log_no_truncate before truncate on audit_log
  for each statement execute function audit_log_guard();
create trigger audit_chain_head_guard before update or delete on audit_chain_head
  for each row execute function audit_chain_head_guard();
create trigger audit_chain_head_no_truncate before truncate on audit_chain_head
  for each statement execute function audit_chain_head_guard();
"""


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column(
            "allowed_cidrs",
            postgresql.ARRAY(postgresql.CIDR()),
            server_default=sa.text("'{}'::cidr[]"),
            nullable=False,
        ),
        sa.Column("disabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "role in (" + ", ".join(repr(r) for r in _ROLES) + ")", name="ck_users_role"
        ),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_index("ix_users_agency_id", "users", ["agency_id"])
    op.create_table(
        "shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sa.String(length=64), nullable=True),
        sa.Column("granted_to_user_id", sa.Integer(), nullable=True),
        sa.Column("granted_to_agency_id", sa.Integer(), nullable=True),
        sa.Column("granted_by_user_id", sa.Integer(), nullable=False),
        sa.Column("live", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("past_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("past_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "granted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("face_blur", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_user_id", sa.Integer(), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("kind in ('request', 'push')", name="ck_shares_kind"),
        sa.CheckConstraint(
            "granted_to_user_id is not null or granted_to_agency_id is not null",
            name="ck_shares_recipient",
        ),
        sa.CheckConstraint(
            "past_start is null or past_end is null or past_start <= past_end",
            name="ck_shares_window",
        ),
        sa.CheckConstraint("expires_at > granted_at", name="ck_shares_expiry"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["granted_to_user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["granted_to_agency_id"], ["agencies.id"]),
        sa.ForeignKeyConstraint(["granted_by_user_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["revoked_by_user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shares_incident_id", "shares", ["incident_id"])
    op.create_index("ix_shares_case_number", "shares", ["case_number"])
    op.create_index("ix_shares_granted_to_user_id", "shares", ["granted_to_user_id"])
    op.create_index("ix_shares_granted_to_agency_id", "shares", ["granted_to_agency_id"])
    op.create_table(
        "share_cameras",
        sa.Column("share_id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["share_id"], ["shares.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("share_id", "camera_id"),
    )
    op.create_index("ix_share_cameras_camera_id", "share_cameras", ["camera_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column(
            "at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("agency", sa.Text(), nullable=True),
        sa.Column("client_ip", sa.Text(), nullable=True),
        sa.Column("case_number", sa.String(length=64), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("share_id", sa.Integer(), nullable=True),
        sa.Column("camera_ids", postgresql.ARRAY(sa.Integer()), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_index("ix_audit_log_username", "audit_log", ["username"])
    op.create_index("ix_audit_log_case_number", "audit_log", ["case_number"])
    op.create_index("ix_audit_log_camera_ids", "audit_log", ["camera_ids"], postgresql_using="gin")
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_hash", sa.String(length=64), server_default="", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("id = 1", name="ck_audit_chain_head_single"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("insert into audit_chain_head (id) values (1)")
    op.execute(_FUNCTIONS)


def downgrade() -> None:
    op.execute("drop table if exists audit_chain_head cascade")
    op.execute("drop table if exists audit_log cascade")
    for fn in (
        "audit_log_guard()",
        "audit_chain_head_guard()",
        "audit_log_chain()",
        "audit_log_prepare()",
    ):
        op.execute(f"drop function if exists {fn}")
    op.drop_index("ix_share_cameras_camera_id", table_name="share_cameras")
    op.drop_table("share_cameras")
    op.drop_index("ix_shares_granted_to_agency_id", table_name="shares")
    op.drop_index("ix_shares_granted_to_user_id", table_name="shares")
    op.drop_index("ix_shares_case_number", table_name="shares")
    op.drop_index("ix_shares_incident_id", table_name="shares")
    op.drop_table("shares")
    op.drop_index("ix_users_agency_id", table_name="users")
    op.drop_table("users")
    op.drop_table("agencies")
