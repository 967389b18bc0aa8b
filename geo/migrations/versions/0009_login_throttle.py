"""rate_counters: atomic per-key counters for the login throttle and bounded refusal auditing

Revision ID: 0009_login_throttle
Revises: 0007_user_notify
Create Date: 2026-11-30

One row per (scope, key), e.g. ("login_user", "10.0.0.7 alice"), ("login_ip", "10.0.0.7"),
("refusal", "10.0.0.7"). ``count`` counts events since ``first_at``; the next event after the
window has passed starts a new window and keeps the closed one in ``prev_count`` /
``prev_first_at`` (so the bounded audit can write "suppressed K more" once). Updated only with
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (see :mod:`geo.access.throttle`): the row lock
makes each count exact under any concurrency.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_login_throttle"
down_revision: str | Sequence[str] | None = "0007_user_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_counters",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column(
            "first_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("prev_first_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prev_count", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_rate_counters"),
    )
    op.create_index("ix_rate_counters_first_at", "rate_counters", ["first_at"])


def downgrade() -> None:
    op.drop_index("ix_rate_counters_first_at", table_name="rate_counters")
    op.drop_table("rate_counters")
