"""Foundation tables: cameras, road network, buildings, incidents and the load log (SRID 4326)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import Base

CAMERA_PURPOSES = ("crime_prevention", "traffic", "child_protection", "disaster", "other")
INCIDENT_KINDS = ("police", "fire", "disaster", "sos", "traffic", "other")
INCIDENT_STATUSES = ("open", "closed")


def _in(col: str, values: tuple[str, ...]) -> str:
    return f"{col} in ({', '.join(repr(v) for v in values)})"


class Camera(Base):
    """One camera (or one pole of co-located cameras, see ``camera_count``)."""

    __tablename__ = "cameras"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_cameras_source_external_id"),
        CheckConstraint(_in("purpose", CAMERA_PURPOSES), name="ck_cameras_purpose"),
        CheckConstraint(
            "heading_deg is null or (heading_deg >= 0 and heading_deg < 360)",
            name="ck_cameras_heading",
        ),
        CheckConstraint(
            "fov_deg is null or (fov_deg > 0 and fov_deg <= 360)", name="ck_cameras_fov"
        ),
        CheckConstraint("range_m is null or range_m > 0", name="ck_cameras_range"),
        Index("ix_cameras_geog", text("(geom::geography)"), postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(32), server_default="other")
    agency: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    heading_deg: Mapped[float | None] = mapped_column(Float)
    fov_deg: Mapped[float | None] = mapped_column(Float)
    range_m: Mapped[float | None] = mapped_column(Float)
    tilt_deg: Mapped[float | None] = mapped_column(Float)
    camera_type: Mapped[str | None] = mapped_column(String(32))
    camera_count: Mapped[int] = mapped_column(Integer, server_default="1")
    resolution_px: Mapped[int | None] = mapped_column(Integer)
    ptz: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    ptz_presets: Mapped[Any | None] = mapped_column(JSONB)
    stream_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    retention_days: Mapped[int | None] = mapped_column(Integer)
    installed_on: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    # (the file's own row is not here: each source's is in its camera_sources record, ``raw``)


class RoadNode(Base):
    """A road-network vertex (an OSM node where ways meet or end)."""

    __tablename__ = "road_nodes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    osm_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    street_count: Mapped[int | None] = mapped_column(Integer)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))


class RoadEdge(Base):
    """A road segment between two nodes, in the layout pgRouting takes as-is.

    ``cost``/``reverse_cost`` are metres for driving (``reverse_cost = -1`` on one-way streets);
    walking ignores one-way and uses ``length_m`` both ways.
    """

    __tablename__ = "road_edges"
    __table_args__ = (
        UniqueConstraint("source", "target", "osm_key", name="uq_road_edges_source_target_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[int] = mapped_column(BigInteger, ForeignKey("road_nodes.id"), index=True)
    target: Mapped[int] = mapped_column(BigInteger, ForeignKey("road_nodes.id"), index=True)
    osm_key: Mapped[int] = mapped_column(Integer, server_default="0")
    osm_way_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    name: Mapped[str | None] = mapped_column(Text)
    highway: Mapped[str | None] = mapped_column(String(64), index=True)
    oneway: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    drivable: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    length_m: Mapped[float] = mapped_column(Float)
    speed_kph: Mapped[float] = mapped_column(Float)
    travel_time_s: Mapped[float] = mapped_column(Float)
    cost: Mapped[float] = mapped_column(Float)
    reverse_cost: Mapped[float] = mapped_column(Float)
    geom: Mapped[Any] = mapped_column(Geometry("LINESTRING", srid=4326, spatial_index=True))
    raw: Mapped[Any | None] = mapped_column(JSONB)


class Building(Base):
    """An OSM building footprint, used to block lines of sight."""

    __tablename__ = "buildings"
    __table_args__ = (UniqueConstraint("osm_type", "osm_id", name="uq_buildings_osm"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    osm_type: Mapped[str] = mapped_column(String(16))
    osm_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(Text)
    building: Mapped[str | None] = mapped_column(String(64))
    height_m: Mapped[float | None] = mapped_column(Float)
    levels: Mapped[float | None] = mapped_column(Float)
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True))
    raw: Mapped[Any | None] = mapped_column(JSONB)


class Incident(Base):
    """Something that happened at a place and time: an emergency case or a historical record."""

    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_incidents_source_external_id"),
        CheckConstraint(_in("kind", INCIDENT_KINDS), name="ck_incidents_kind"),
        CheckConstraint(_in("status", INCIDENT_STATUSES), name="ck_incidents_status"),
        Index("ix_incidents_geog", text("(geom::geography)"), postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    case_number: Mapped[str | None] = mapped_column(String(64), index=True)
    priority: Mapped[int] = mapped_column(Integer, server_default="3")
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64), server_default="api")
    external_id: Mapped[str | None] = mapped_column(String(128))
    created_by: Mapped[str | None] = mapped_column(String(64))
    #: the agency that owns (may change) the incident; null = the control centre (0008_policy)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    raw: Mapped[Any | None] = mapped_column(JSONB)


class DataLoad(Base):
    """One completed load of a file: what, from where, how many rows, which were rejected.

    Its id doubles as the version counter the in-memory routing graph watches.
    """

    __tablename__ = "data_loads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    fmt: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    rows_read: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    rejects: Mapped[Any | None] = mapped_column(JSONB)
    loaded_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class CameraView(Base):
    """The stored field of view of one camera (see :mod:`geo.views`): refreshed on every load."""

    __tablename__ = "camera_views"

    camera_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True
    )
    heading_deg: Mapped[float | None] = mapped_column(Float)
    fov_deg: Mapped[float] = mapped_column(Float)
    range_m: Mapped[float] = mapped_column(Float)
    range_is_default: Mapped[bool] = mapped_column(Boolean)
    direction_known: Mapped[bool] = mapped_column(Boolean)
    clipped_by_buildings: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True))
    computed_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
