"""data_loads: NOTIFY goldentime_loads on every change (the routing graph's version listens)

Revision ID: 0014_road_load_notify
Revises: 0013_recorder_recovery
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014_road_load_notify"
down_revision: str | Sequence[str] | None = "0013_recorder_recovery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # delivered after commit, once per transaction and payload: listeners re-read max(id)
    op.execute("""
        create function goldentime_loads_notify() returns trigger language plpgsql as $$
        begin
            perform pg_notify('goldentime_loads', '');
            return null;
        end $$""")
    op.execute("""
        create trigger data_loads_notify after insert or update or delete or truncate
        on data_loads for each statement execute function goldentime_loads_notify()""")


def downgrade() -> None:
    op.execute("drop trigger if exists data_loads_notify on data_loads")
    op.execute("drop function if exists goldentime_loads_notify()")
