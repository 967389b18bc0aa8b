"""Routing tables: which road edges each camera sees (see :mod:`geo.camera_edges`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Float, ForeignKey, Integer, func
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import Base


class CameraEdge(Base):
    """The stretch ``frac_from..frac_to`` (0 = source, 1 = target) of a road edge a camera sees."""

    __tablename__ = "camera_edges"
    __table_args__ = (
        CheckConstraint(
            "frac_from >= 0 and frac_to <= 1 and frac_from <= frac_to", name="ck_camera_edges_frac"
        ),
    )

    camera_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    edge_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("road_edges.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    frac_from: Mapped[float] = mapped_column(Float)
    frac_to: Mapped[float] = mapped_column(Float)
    frac_nearest: Mapped[float] = mapped_column(Float)
    visible_m: Mapped[float] = mapped_column(Float)
    distance_m: Mapped[float] = mapped_column(Float)


class CameraEdgesState(Base):
    """The load counter ``camera_edges`` was computed for (one row)."""

    __tablename__ = "camera_edges_state"
    __table_args__ = (CheckConstraint("id = 1", name="ck_camera_edges_state_one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    load_version: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
