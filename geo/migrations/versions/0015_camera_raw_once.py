"""cameras.raw dropped (the file's own row is kept once, in its camera_sources record); the
records' spatial index on the geometry

Revision ID: 0015_camera_raw_once
Revises: 0010_camera_sources
Create Date: 2026-12-01

A camera row's ``raw`` was a copy of its primary record's ``fields->'raw'`` (the record whose
(source, external_id) is the camera's). Writing it twice was a third of a national load's bytes
(710 of about 2,000 per camera), and a merge that changed the primary record had to copy it
again. A camera whose key has no record (a row written by hand, never through a loader) gets one
before the column goes, so no source row is lost; the downgrade copies the primary records' back.

The records' GiST index is on ``geom`` instead of ``geom::geography``: PostGIS builds a geometry
point index sorted (1.6 s for a million records, against 5.4 s for the geography one), and the one
query that needs it (``geo.load.merge._PAIRS_SQL``) takes its candidates from a box in degrees.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015_camera_raw_once"
down_revision: str | Sequence[str] | None = "0010_camera_sources"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
        insert into camera_sources (camera_id, source, external_id, fields, geom)
        select id, source, external_id,
               to_jsonb(c) - 'id' - 'geom' - 'updated_at' - 'ptz_presets', geom
        from cameras c
        where raw is not null and not exists (
            select 1 from camera_sources s
            where s.source = c.source and s.external_id = c.external_id)""")
    op.drop_column("cameras", "raw")
    op.execute("drop index if exists ix_camera_sources_geog")
    op.execute("create index ix_camera_sources_geom on camera_sources using gist (geom)")


def downgrade() -> None:
    op.execute("drop index if exists ix_camera_sources_geom")
    op.execute(
        "create index ix_camera_sources_geog on camera_sources using gist ((geom::geography))"
    )
    op.add_column("cameras", sa.Column("raw", postgresql.JSONB(astext_type=sa.Text())))
    op.execute("""
        update cameras c set raw = nullif(s.fields->'raw', 'null'::jsonb) from camera_sources s
        where s.source = c.source and s.external_id = c.external_id""")
