"""recorder_gaps reports the unfinished segments a dead recorder left

Revision ID: 0013_recorder_recovery
Revises: 0012_revoked_tokens
Create Date: 2026-12-01

A recorder killed mid-segment leaves a ``*.partial.mp4``. The recorder that takes the camera over
finalises it (geo/video/remux.py ``recover_partial``): indexed up to its last whole fragment
(``recovered`` counts them; ``gap_start`` moves to the end of the last one), or deleted when
nothing in it decodes (``discarded``: the file names and their bytes).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_recorder_recovery"
down_revision: str | Sequence[str] | None = "0012_revoked_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "recorder_gaps",
        sa.Column("recovered", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "recorder_gaps",
        sa.Column(
            "discarded",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("recorder_gaps", "discarded")
    op.drop_column("recorder_gaps", "recovered")
