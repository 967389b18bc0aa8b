"""THE registry of the collections GIS clients read (OGC API - Features, vector tiles).

One :class:`Collection` per layer says where its rows come from (a ``FROM`` clause whose main
relation is aliased ``t``), which column is its geometry and its id, which properties leave the
service (stream URLs, raw source rows and credentials never do: they are simply not listed),
which property is its time, and which permission of :data:`geo.access.roles.PERMISSIONS` reads
it. Properties may need a further permission (an incident's case number and description), so the
fields a role sees follow the same role table as everything else.

Unknown and not-permitted collection ids are the same :class:`geo.errors.NotFound`: a client
learns nothing about collections its role may not read (the standard's 404 for both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from geo.access.roles import has_permission
from geo.errors import NotFound

#: JSON-schema-ish type of a property (``datetime`` is an RFC 3339 string in answers).
PROPERTY_TYPES = ("string", "integer", "number", "boolean", "datetime", "date")


@dataclass(frozen=True)
class Property:
    """One exposed property: its public ``name``, the SQL expression computing it over the
    source (alias ``t``, or a joined alias the source names), its ``type``, and an optional
    extra ``permission`` a role needs to see it (besides the collection's)."""

    name: str
    sql: str
    type: str
    description: str = ""
    permission: str | None = None


@dataclass(frozen=True)
class Collection:
    """A layer: id, title, description, where its rows come from and who may read them.

    ``source`` is a SQL ``FROM`` clause (main alias ``t``); ``geometry``/``id_sql`` are SQL
    expressions over it (geometry in EPSG:4326). ``permission`` reads the collection;
    ``audited`` marks personal data, whose every read is written to the audit log before
    anything flows. ``temporal`` names the property ``datetime`` filters on. ``prepare``, for a
    computed collection, returns the bind parameters its ``source`` needs (e.g. rows computed
    in Python, as JSON); plain table collections have none. ``table`` is the relation the
    extent may be estimated from (``None`` when computed).
    """

    id: str
    title: str
    description: str
    source: str
    geometry: str
    geometry_type: str
    id_sql: str
    id_type: str
    properties: tuple[Property, ...]
    permission: str
    temporal: str | None = None
    audited: bool = False
    table: str | None = None
    prepare: Callable[[Session], dict[str, Any]] | None = field(default=None, compare=False)

    @property
    def computed(self) -> bool:
        """Whether the rows are computed per request (not a plain table: no tiles index)."""
        return self.prepare is not None

    def properties_for(self, role: str | None) -> tuple[Property, ...]:
        """The properties ``role`` may see (those without an extra permission, plus those whose
        permission the role holds)."""
        return tuple(
            p for p in self.properties if p.permission is None or has_permission(role, p.permission)
        )

    def property(self, name: str, role: str | None) -> Property | None:
        """The property ``name`` if ``role`` may see it, else ``None``."""
        return next((p for p in self.properties_for(role) if p.name == name), None)


def _p(
    name: str, type_: str, sql: str | None = None, desc: str = "", perm: str | None = None
) -> Property:
    return Property(
        name=name, sql=sql or f"t.{name}", type=type_, description=desc, permission=perm
    )


def _coverage_gap_rows(session: Session) -> dict[str, Any]:
    """The coverage-gap grid (``geo.coverage.coverage_gaps``, sparse, default cell size) as JSON
    rows for the ``coverage_gaps`` source."""
    import json

    from geo.coverage import coverage_gaps

    g = coverage_gaps(session)
    rows = []
    for c in g["cells"]:
        ring = [list(p) for p in c["boundary"]]
        ring.append(ring[0])
        rows.append(
            {
                "h3": c["h3"],
                "incidents": int(c.get("incidents") or 0),
                "covered_incidents": int(c.get("covered_incidents") or 0),
                "covered_fraction": float(c.get("covered_fraction") or 0.0),
                "gap_score": float(c.get("gap_score") or 0.0),
                "geometry": json.dumps({"type": "Polygon", "coordinates": [ring]}),
            }
        )
    return {"gap_rows": json.dumps(rows), "gap_resolution": int(g["resolution"])}


CAMERAS = Collection(
    id="cameras",
    title="CCTV cameras",
    description="The camera registry: position, purpose, agency, view parameters. Stream URLs "
    "are never served here; video is reached only through the access gate.",
    source="cameras t",
    table="cameras",
    geometry="t.geom",
    geometry_type="Point",
    id_sql="t.id",
    id_type="integer",
    permission="cameras_read",
    temporal="updated_at",
    properties=(
        _p("name", "string"),
        _p("purpose", "string", desc="traffic, crime, fire, ..."),
        _p("agency", "string", desc="managing agency"),
        _p("address", "string"),
        _p("source", "string", desc="the data load this camera came from"),
        _p("external_id", "string", desc="the id in the source file"),
        _p("camera_type", "string"),
        _p("camera_count", "integer"),
        _p("resolution_px", "integer", desc="pixels (e.g. 2000000 for 2 MP)"),
        _p("heading_deg", "number", desc="degrees clockwise from north"),
        _p("fov_deg", "number"),
        _p("range_m", "number"),
        _p("tilt_deg", "number"),
        _p("ptz", "boolean"),
        _p("status", "string"),
        _p("retention_days", "integer"),
        _p("installed_on", "date"),
        _p("updated_at", "datetime"),
    ),
)

CAMERA_VIEWS = Collection(
    id="camera_views",
    title="Camera fields of view",
    description="Each camera's field-of-view polygon from the one view model (geo.views): "
    "sector from heading, field of view and range, clipped by buildings.",
    source="camera_views t join cameras c on c.id = t.camera_id",
    table="camera_views",
    geometry="t.geom",
    geometry_type="MultiPolygon",
    id_sql="t.camera_id",
    id_type="integer",
    permission="cameras_read",
    temporal="computed_at",
    properties=(
        _p("camera_id", "integer"),
        _p("purpose", "string", "c.purpose"),
        _p("name", "string", "c.name"),
        _p("heading_deg", "number"),
        _p("fov_deg", "number"),
        _p("range_m", "number"),
        _p("range_is_default", "boolean"),
        _p("direction_known", "boolean"),
        _p("clipped_by_buildings", "boolean"),
        _p("computed_at", "datetime"),
    ),
)

ROADS = Collection(
    id="roads",
    title="Road network",
    description="Road edges of the routing graph (OpenStreetMap), one per directed way segment.",
    source="road_edges t",
    table="road_edges",
    geometry="t.geom",
    geometry_type="LineString",
    id_sql="t.id",
    id_type="integer",
    permission="map_read",
    properties=(
        _p("name", "string"),
        _p("highway", "string"),
        _p("oneway", "boolean"),
        _p("drivable", "boolean"),
        _p("length_m", "number"),
        _p("speed_kph", "number"),
        _p("travel_time_s", "number"),
        _p("osm_way_id", "integer"),
        _p("source", "integer", desc="from node"),
        _p("target", "integer", desc="to node"),
    ),
)

BUILDINGS = Collection(
    id="buildings",
    title="Buildings",
    description="Building footprints (OpenStreetMap) that block camera views.",
    source="buildings t",
    table="buildings",
    geometry="t.geom",
    geometry_type="MultiPolygon",
    id_sql="t.id",
    id_type="integer",
    permission="map_read",
    properties=(
        _p("name", "string"),
        _p("building", "string"),
        _p("height_m", "number"),
        _p("levels", "number"),
        _p("osm_type", "string"),
        _p("osm_id", "integer"),
    ),
)

INCIDENTS = Collection(
    id="incidents",
    title="Incidents",
    description="Registered incidents (position and time of emergencies). Personal data: every "
    "read is audited; case numbers and descriptions only for roles holding incident_details.",
    source="incidents t left join agencies ag on ag.id = t.agency_id",
    table="incidents",
    geometry="t.geom",
    geometry_type="Point",
    id_sql="t.id",
    id_type="integer",
    permission="incident_read",
    temporal="occurred_at",
    audited=True,
    properties=(
        _p("kind", "string"),
        _p("priority", "integer"),
        _p("status", "string"),
        _p("occurred_at", "datetime"),
        _p("agency", "string", "ag.name"),
        _p("source", "string"),
        _p("created_at", "datetime"),
        _p("updated_at", "datetime"),
        _p("case_number", "string", perm="incident_details"),
        _p("description", "string", perm="incident_details"),
    ),
)

COVERAGE_GAPS = Collection(
    id="coverage_gaps",
    title="Coverage gaps",
    description="H3 hexagons holding incidents or camera views (geo.coverage, default cell "
    "size): incidents, covered incidents, covered fraction and gap score (incidents no camera "
    "sees). Computed per request.",
    source="jsonb_to_recordset(cast(:gap_rows as jsonb)) as t(h3 text, incidents int, "
    "covered_incidents int, covered_fraction float8, gap_score float8, geometry text)",
    geometry="st_setsrid(st_geomfromgeojson(t.geometry), 4326)",
    geometry_type="Polygon",
    id_sql="t.h3",
    id_type="string",
    permission="planning",
    properties=(
        _p("h3", "string", desc="H3 cell index"),
        _p("incidents", "integer"),
        _p("covered_incidents", "integer"),
        _p("covered_fraction", "number"),
        _p("gap_score", "number"),
    ),
    prepare=_coverage_gap_rows,
)

#: Every collection, in the order the collections list shows them.
COLLECTIONS: tuple[Collection, ...] = (
    CAMERAS,
    CAMERA_VIEWS,
    ROADS,
    BUILDINGS,
    INCIDENTS,
    COVERAGE_GAPS,
)
_BY_ID = {c.id: c for c in COLLECTIONS}


def collections_for(role: str | None) -> list[Collection]:
    """The collections ``role`` may read, in registry order."""
    return [c for c in COLLECTIONS if has_permission(role, c.permission)]


def get_collection(collection_id: str, role: str | None) -> Collection:
    """The collection ``collection_id`` if ``role`` may read it; :class:`NotFound` (field
    ``collectionId``) for an unknown id AND for one the role may not read, so that its
    existence is not revealed."""
    c = _BY_ID.get(collection_id)
    if c is None or not has_permission(role, c.permission):
        raise NotFound(f"no collection {collection_id!r}", field="collectionId")
    return c
