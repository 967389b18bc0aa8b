"""camera_sources: every source's record of a camera (one camera, one row; issue 13)

Revision ID: 0010_camera_sources
Revises: 0009_login_throttle
Create Date: 2026-12-01

``cameras`` keeps one row per physical camera; each source file's record of it (2015 inventory,
national standard data, traffic list, ...) is a ``camera_sources`` row keyed by (source,
external_id) with its own fields and position. Existing cameras are backfilled one record each,
so a database loaded before this revision merges on its next camera load.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0010_camera_sources"
down_revision: str | Sequence[str] | None = "0009_login_throttle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "camera_sources",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "camera_id",
            sa.Integer(),
            sa.ForeignKey("cameras.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        sa.Column("coord_decimals", sa.SmallInteger(), nullable=True),
        sa.Column("matched_by", sa.String(16), server_default="own", nullable=False),
        sa.Column("matched_to", sa.Text(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.UniqueConstraint("source", "external_id", name="uq_camera_sources_source_external_id"),
    )
    op.create_index("ix_camera_sources_camera_id", "camera_sources", ["camera_id"])
    op.execute(
        "create index ix_camera_sources_geog on camera_sources using gist ((geom::geography))"
    )
    op.execute("""
        insert into camera_sources (camera_id, source, external_id, fields, geom)
        select id, source, external_id,
               to_jsonb(c) - 'id' - 'geom' - 'updated_at' - 'ptz_presets', geom
        from cameras c
    """)


def downgrade() -> None:
    op.drop_table("camera_sources")
