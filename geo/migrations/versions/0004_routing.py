"""routing: camera_edges (which road edges each camera sees, and where along them)

Revision ID: 0004_routing
Revises: 0001_foundation
Create Date: 2026-11-28

``camera_edges`` is derived data: :func:`geo.camera_edges.refresh_camera_edges` rebuilds it from
``camera_views`` (the one field-of-view model, clipped by buildings) and ``road_edges``.
``camera_edges_state`` remembers the load counter (``max(data_loads.id)``) it was built for, so
the routing engine can tell when it is stale.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_routing"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "camera_edges",
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("edge_id", sa.BigInteger(), nullable=False),
        sa.Column("frac_from", sa.Float(), nullable=False),
        sa.Column("frac_to", sa.Float(), nullable=False),
        sa.Column("frac_nearest", sa.Float(), nullable=False),
        sa.Column("visible_m", sa.Float(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["edge_id"], ["road_edges.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("camera_id", "edge_id"),
        sa.CheckConstraint(
            "frac_from >= 0 and frac_to <= 1 and frac_from <= frac_to", name="ck_camera_edges_frac"
        ),
    )
    op.create_index("ix_camera_edges_edge_id", "camera_edges", ["edge_id"])
    op.create_table(
        "camera_edges_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("load_version", sa.Integer(), nullable=False),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("id = 1", name="ck_camera_edges_state_one_row"),
    )


def downgrade() -> None:
    op.drop_table("camera_edges_state")
    op.drop_index("ix_camera_edges_edge_id", table_name="camera_edges")
    op.drop_table("camera_edges")
