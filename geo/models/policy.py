"""Policy tables: an incident shared with another agency (migration ``0008_policy``).

The owning agency (``incidents.agency_id``) or the control centre shares an incident with another
agency; that agency's officers may then request video on it (:mod:`geo.access.policy`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import Base


class IncidentShare(Base):
    """Incident ``incident_id`` is shared with agency ``agency_id`` (by whom, when, why)."""

    __tablename__ = "incident_shares"

    incident_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    shared_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
