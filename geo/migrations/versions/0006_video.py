"""video: recording archive index, privacy masks, motion events, recorder status

Revision ID: 0006_video
Revises: 0001_foundation
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_video"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOW = sa.text("now()")


def _camera_fk() -> sa.Column:
    return sa.Column(
        "camera_id", sa.Integer(), sa.ForeignKey("cameras.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "video_segments",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        _camera_fk(),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("path", sa.Text(), nullable=False, unique=True),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("codec", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.CheckConstraint("end_at > start_at", name="ck_video_segments_window"),
    )
    op.create_index("ix_video_segments_camera_id", "video_segments", ["camera_id"])
    op.create_index(
        "ix_video_segments_camera_window", "video_segments", ["camera_id", "start_at", "end_at"]
    )
    op.create_table(
        "camera_masks",
        sa.Column("id", sa.Integer(), primary_key=True),
        _camera_fk(),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("points", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
    )
    op.create_index("ix_camera_masks_camera_id", "camera_masks", ["camera_id"])
    op.create_table(
        "motion_events",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        _camera_fk(),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("box_x", sa.Integer(), nullable=False),
        sa.Column("box_y", sa.Integer(), nullable=False),
        sa.Column("box_w", sa.Integer(), nullable=False),
        sa.Column("box_h", sa.Integer(), nullable=False),
        sa.Column("area_frac", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
    )
    op.create_index("ix_motion_events_at", "motion_events", ["at"])
    op.create_index("ix_motion_events_camera_at", "motion_events", ["camera_id", "at"])
    op.create_table(
        "recorder_status",
        sa.Column(
            "camera_id",
            sa.Integer(),
            sa.ForeignKey("cameras.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("host", sa.Text(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_frame_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("segments", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recorder_status")
    op.drop_index("ix_motion_events_camera_at", table_name="motion_events")
    op.drop_index("ix_motion_events_at", table_name="motion_events")
    op.drop_table("motion_events")
    op.drop_index("ix_camera_masks_camera_id", table_name="camera_masks")
    op.drop_table("camera_masks")
    op.drop_index("ix_video_segments_camera_window", table_name="video_segments")
    op.drop_index("ix_video_segments_camera_id", table_name="video_segments")
    op.drop_table("video_segments")
