"""revoked_tokens: access tokens revoked by logout, until they would have expired

Revision ID: 0012_revoked_tokens
Revises: 0011_recorder_leases
Create Date: 2026-12-01

One row per logged-out token (``jti``, or a digest for tokens without one: see
``geo.access.tokens.token_id``); the token check reads it in the same query as the user row.
Rows whose ``expires_at`` (the token's own expiry) has passed are purged at the next logout, so
the table stays as small as the logouts of one token lifetime. An insert notifies
``goldentime_users`` (like a change to ``users``, migration 0007), so every API worker drops its
memo of the user row at once and the next use of the token reads the revocation.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_revoked_tokens"
down_revision: str | Sequence[str] | None = "0011_recorder_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(length=80), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "revoked_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("jti", name="pk_revoked_tokens"),
    )
    op.create_index("ix_revoked_tokens_user_id", "revoked_tokens", ["user_id"])
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"])
    op.execute("""
        create function goldentime_revoked_notify() returns trigger language plpgsql as $$
        begin
            perform pg_notify('goldentime_users', new.user_id::text);
            return null;
        end $$""")
    op.execute("""
        create trigger revoked_tokens_notify after insert on revoked_tokens
        for each row execute function goldentime_revoked_notify()""")


def downgrade() -> None:
    op.execute("drop trigger if exists revoked_tokens_notify on revoked_tokens")
    op.execute("drop function if exists goldentime_revoked_notify()")
    op.drop_index("ix_revoked_tokens_expires_at", table_name="revoked_tokens")
    op.drop_index("ix_revoked_tokens_user_id", table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
