"""recorder_leases and recorder_gaps: cameras shared by a fleet of recorder processes

Revision ID: 0011_recorder_leases
Revises: 0009_login_throttle
Create Date: 2026-12-01

``recorder_leases``: one row per camera a fleet records; ``holder`` (null = free) records it until
``expires_at`` (set from the database clock, so recorders on other machines need no synchronised
clocks) and renews it every few seconds. A recorder claims free or expired rows with ``SELECT ...
FOR UPDATE SKIP LOCKED`` (geo/video/leases.py). ``recorder_gaps``: one row per take-over of an
expired lease (the previous holder died or stalled): from the end of the last indexed segment to
the start of the new holder's first one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_recorder_leases"
down_revision: str | Sequence[str] | None = "0009_login_throttle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recorder_leases",
        sa.Column(
            "camera_id",
            sa.Integer(),
            sa.ForeignKey("cameras.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("holder", sa.Text(), nullable=True),
        sa.Column("host", sa.Text(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("'-infinity'"),
            nullable=False,
        ),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_recorder_leases_holder", "recorder_leases", ["holder"])
    op.create_table(
        "recorder_gaps",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "camera_id",
            sa.Integer(),
            sa.ForeignKey("cameras.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("from_holder", sa.Text(), nullable=True),
        sa.Column("to_holder", sa.Text(), nullable=False),
        sa.Column("gap_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gap_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "detected_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index("ix_recorder_gaps_camera", "recorder_gaps", ["camera_id", "detected_at"])


def downgrade() -> None:
    op.drop_index("ix_recorder_gaps_camera", table_name="recorder_gaps")
    op.drop_table("recorder_gaps")
    op.drop_index("ix_recorder_leases_holder", table_name="recorder_leases")
    op.drop_table("recorder_leases")
