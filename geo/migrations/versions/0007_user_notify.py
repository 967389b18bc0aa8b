"""users: NOTIFY goldentime_users on every change (the API's token-check cache listens)

Revision ID: 0007_user_notify
Revises: 0002_access
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007_user_notify"
down_revision: str | Sequence[str] | None = "0002_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # pg_notify is delivered after commit: listeners drop their cached user rows
    op.execute("""
        create function goldentime_users_notify() returns trigger language plpgsql as $$
        begin
            if tg_level = 'STATEMENT' then
                perform pg_notify('goldentime_users', '0');
            elsif tg_op = 'DELETE' then
                perform pg_notify('goldentime_users', old.id::text);
            else
                perform pg_notify('goldentime_users', new.id::text);
            end if;
            return null;
        end $$""")
    op.execute("""
        create trigger users_notify after insert or update or delete on users
        for each row execute function goldentime_users_notify()""")
    op.execute("""
        create trigger users_notify_truncate after truncate on users
        for each statement execute function goldentime_users_notify()""")


def downgrade() -> None:
    op.execute("drop trigger if exists users_notify_truncate on users")
    op.execute("drop trigger if exists users_notify on users")
    op.execute("drop function if exists goldentime_users_notify()")
