"""Video tables: the recording archive index, privacy masks, motion events and recorder status.

Times are ``timestamptz`` (UTC wall clock of the frames); boxes and mask polygons are in image
pixel coordinates (x to the right, y down) of the camera's native frame.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import Base


class VideoSegment(Base):
    """One recorded file of one camera covering ``[start_at, end_at)``."""

    __tablename__ = "video_segments"
    __table_args__ = (
        CheckConstraint("end_at > start_at", name="ck_video_segments_window"),
        Index("ix_video_segments_camera_window", "camera_id", "start_at", "end_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    camera_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("cameras.id", ondelete="CASCADE"), index=True
    )
    start_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    path: Mapped[str] = mapped_column(Text, unique=True)
    frames: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    fps: Mapped[float] = mapped_column(Float)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    codec: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class CameraMask(Base):
    """A static privacy mask: a polygon in image pixels blacked out on every frame that leaves."""

    __tablename__ = "camera_masks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("cameras.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str | None] = mapped_column(Text)
    points: Mapped[Any] = mapped_column(JSONB)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class MotionEvent(Base):
    """Motion seen by background subtraction on one camera, debounced to one row per window."""

    __tablename__ = "motion_events"
    __table_args__ = (Index("ix_motion_events_camera_at", "camera_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    until_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    box_x: Mapped[int] = mapped_column(Integer)
    box_y: Mapped[int] = mapped_column(Integer)
    box_w: Mapped[int] = mapped_column(Integer)
    box_h: Mapped[int] = mapped_column(Integer)
    area_frac: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    frames: Mapped[int] = mapped_column(Integer)


class RecorderStatus(Base):
    """Last known state of each camera's recorder (``recording``, ``retrying``, ``stopped``)."""

    __tablename__ = "recorder_status"

    camera_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16))
    host: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_frame_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    segments: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class RecorderLease(Base):
    """Which recorder process (``holder``, null = free) records a camera, until ``expires_at``
    (database clock); claimed with ``FOR UPDATE SKIP LOCKED`` (:mod:`geo.video.leases`)."""

    __tablename__ = "recorder_leases"

    camera_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str | None] = mapped_column(Text, index=True)
    host: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("'-infinity'")
    )
    renewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    since: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RecorderGap(Base):
    """A take-over of an expired lease: recording of the camera stopped at ``gap_start`` (end of
    its last indexed segment) and resumed at ``gap_end`` (the new holder's first segment)."""

    __tablename__ = "recorder_gaps"
    __table_args__ = (Index("ix_recorder_gaps_camera", "camera_id", "detected_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    camera_id: Mapped[int] = mapped_column(Integer, ForeignKey("cameras.id", ondelete="CASCADE"))
    from_holder: Mapped[str | None] = mapped_column(Text)
    to_holder: Mapped[str] = mapped_column(Text)
    gap_start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    gap_end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    detected_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
