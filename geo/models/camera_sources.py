"""Every source's record of a camera: one ``cameras`` row, many ``camera_sources`` rows.

The same physical camera appears in several files (the Daejeon 2015 inventory, the national
standard data, the traffic list). Each file's row is kept here as it was read (``fields``), keyed
by (source, external_id); ``cameras`` holds the one merged row they all point at
(:mod:`geo.load.unify`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import Base


class CameraSource(Base):
    """One source file's record of a camera, attached to the merged ``cameras`` row."""

    __tablename__ = "camera_sources"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_camera_sources_source_external_id"),
        # a plain geometry index (sorted build); the pair query's box: geo.load.merge._PAIRS_SQL
        Index("ix_camera_sources_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("cameras.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    #: the row as the loader read it (every camera column but geom, and ``raw``)
    fields: Mapped[Any] = mapped_column(JSONB)
    #: this source's own position (EPSG:4326) and its precision in decimal places
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    coord_decimals: Mapped[int | None] = mapped_column(SmallInteger)
    #: how it joined its camera: "own" (the camera's own record) or "likely" (merged)
    matched_by: Mapped[str] = mapped_column(String(16), server_default="own")
    #: for merged records: the record it was matched to, the score and why
    matched_to: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    loaded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
