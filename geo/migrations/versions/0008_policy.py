"""policy: the approval loop on shares, incidents owned by an agency, incidents shared with agencies

Revision ID: 0008_policy
Revises: 0007_user_notify
Create Date: 2026-11-30

* ``shares.approval`` (``auto`` within policy, ``pending`` beyond it until a supervisor decides,
  then ``approved`` or ``refused``), with who decided, when, why, and the policy's reasons;
  existing shares are ``auto``. A pending or refused share opens nothing (``geo.access.gate``).
* ``incidents.agency_id``: the agency that owns (may change) the incident; ``null`` = the control
  centre (every existing row, and loaded historical incidents).
* ``incident_shares``: an incident shared with another agency, whose officers may then request
  video on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_policy"
down_revision: str | Sequence[str] | None = "0007_user_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "shares",
        sa.Column("approval", sa.String(length=16), server_default="auto", nullable=False),
    )
    op.add_column("shares", sa.Column("approved_by_user_id", sa.Integer(), nullable=True))
    op.add_column("shares", sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("shares", sa.Column("approval_reason", sa.Text(), nullable=True))
    op.add_column("shares", sa.Column("policy_reasons", sa.ARRAY(sa.Text()), nullable=True))
    op.create_foreign_key(
        "fk_shares_approved_by_user_id", "shares", "users", ["approved_by_user_id"], ["id"]
    )
    op.create_check_constraint(
        "ck_shares_approval", "shares", "approval in ('auto', 'pending', 'approved', 'refused')"
    )
    op.create_check_constraint(
        "ck_shares_decided",
        "shares",
        "approval not in ('approved', 'refused') "
        "or (approved_by_user_id is not null and approved_at is not null "
        "and approval_reason is not null)",
    )
    op.create_index(
        "ix_shares_pending",
        "shares",
        ["granted_at"],
        postgresql_where=sa.text("approval = 'pending'"),
    )

    op.add_column("incidents", sa.Column("agency_id", sa.Integer(), nullable=True))
    op.create_foreign_key("fk_incidents_agency_id", "incidents", "agencies", ["agency_id"], ["id"])
    op.create_index("ix_incidents_agency_id", "incidents", ["agency_id"])

    op.create_table(
        "incident_shares",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("shared_by_user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["agency_id"], ["agencies.id"]),
        sa.ForeignKeyConstraint(["shared_by_user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("incident_id", "agency_id"),
    )


def downgrade() -> None:
    op.drop_table("incident_shares")
    op.drop_index("ix_incidents_agency_id", table_name="incidents")
    op.drop_constraint("fk_incidents_agency_id", "incidents", type_="foreignkey")
    op.drop_column("incidents", "agency_id")
    op.drop_index("ix_shares_pending", table_name="shares")
    op.drop_constraint("ck_shares_decided", "shares", type_="check")
    op.drop_constraint("ck_shares_approval", "shares", type_="check")
    op.drop_constraint("fk_shares_approved_by_user_id", "shares", type_="foreignkey")
    for col in ("policy_reasons", "approval_reason", "approved_at", "approved_by_user_id"):
        op.drop_column("shares", col)
    op.drop_column("shares", "approval")
