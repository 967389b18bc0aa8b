"""``/api/coverage`` and ``/api/siting``: what the cameras cover, the gaps, and where to add cameras."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from annotated_types import Interval
from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from pydantic import AllowInfNan, BaseModel, ConfigDict, Field

from api.deps import ClientIP, CurrentUser, SessionDep
from api.validation import BBoxStr, FiniteFloat, Lat, Lon, SafeStr, SaneDatetime
from geo import coverage, siting
from geo.access import gate
from geo.bbox import BBox
from geo.errors import InvalidInput


def planner(session: SessionDep, user: CurrentUser, ip: ClientIP) -> None:
    """Only planners (and admins) use the planning endpoints; 403 (audited) for other roles."""
    gate.authorize(session, user=user, client_ip=ip, permission="planning", action="planning")


router = APIRouter(tags=["coverage"], dependencies=[Depends(planner)])

BBOX_DOC = "min_lon,min_lat,max_lon,max_lat (EPSG:4326); whole database when omitted"
#: Where the coverage map's camera layer fetches its vector tiles (api/routes/tiles.py).
CAMERA_TILES = "/ogc/collections"


#: hexagon edge length in metres (H3 resolutions span about 0.5 m .. 1,300 km)
CellSizeM = Annotated[float, Interval(gt=0, le=1_000_000), AllowInfNan(False)]
#: radius of a site in metres
RadiusM = Annotated[float, Interval(gt=0, le=siting.MAX_RADIUS_M), AllowInfNan(False)]


def _purposes(purpose: str | None) -> list[str] | None:
    return [p.strip() for p in purpose.split(",") if p.strip()] if purpose else None


def _bbox(bbox: str | None, field: str = "bbox") -> BBox | None:
    return BBox.parse(bbox, field=field, max_area_km2=coverage.MAX_BBOX_KM2) if bbox else None


@router.get("/api/coverage/summary")
def coverage_summary(
    session: SessionDep,
    bbox: BBoxStr | None = Query(
        None, description=BBOX_DOC, examples=["127.30,36.33,127.40,36.40"]
    ),
    start: SaneDatetime | None = Query(None, description="incidents with occurred_at >= start"),
    end: SaneDatetime | None = Query(None, description="incidents with occurred_at < end"),
    kind: SafeStr | None = Query(None, description="incident kind, e.g. traffic"),
    purpose: SafeStr | None = Query(None, description="camera purposes, comma-separated"),
) -> dict[str, Any]:
    """Cameras, covered area and overlap, covered road length by class, and incidents in coverage
    and within 50/100/300 m of a camera (by kind and year) for a bbox or everything loaded."""
    return coverage.coverage_summary(
        session, bbox=_bbox(bbox), start=start, end=end, kind=kind, purposes=_purposes(purpose)
    )


@router.get("/api/coverage/gaps")
def coverage_gaps(
    session: SessionDep,
    bbox: BBoxStr | None = Query(None, description=BBOX_DOC + " (then only cells with data)"),
    cell_size_m: CellSizeM | None = Query(
        None, description="hexagon edge length in metres (nearest H3 resolution; default 200)"
    ),
    resolution: int | None = Query(
        None, ge=0, le=15, description="H3 resolution 0..15 instead of a size"
    ),
    start: SaneDatetime | None = Query(None),
    end: SaneDatetime | None = Query(None),
    kind: SafeStr | None = Query(None),
    purpose: SafeStr | None = Query(None, description="camera purposes, comma-separated"),
    include_empty: bool = Query(False, description="also cells with no incidents or coverage"),
) -> dict[str, Any]:
    """The H3 gap grid as GeoJSON: per cell incidents, covered fraction and gap score."""
    g = coverage.coverage_gaps(
        session,
        bbox=_bbox(bbox),
        cell_size_m=cell_size_m,
        resolution=resolution,
        start=start,
        end=end,
        kind=kind,
        purposes=_purposes(purpose),
        include_empty=include_empty,
    )
    return coverage.gaps_geojson(g)


class CandidatePoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lon: Lon
    lat: Lat


class DemandFilter(BaseModel):
    """Which incidents are the demand (unknown fields are refused: a misplaced filter must
    not silently widen the demand to the whole database)."""

    model_config = ConfigDict(extra="forbid")

    kind: SafeStr | None = None
    start: SaneDatetime | None = None
    end: SaneDatetime | None = None
    bbox: BBoxStr | None = Field(default=None, description=BBOX_DOC)


class SitingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int = Field(ge=1, le=siting.MAX_K, description="number of new sites (1..1000)")
    radius_m: RadiusM = Field(50.0, description="a site covers incidents within this distance")
    candidates: list[CandidatePoint] | None = Field(
        None,
        max_length=siting.MAX_CANDIDATES,
        description="candidate sites; default: road intersections, else a metric grid",
    )
    candidate_source: Literal["auto", "given", "road_nodes", "grid", "incidents"] = "auto"
    grid_spacing_m: FiniteFloat | None = Field(None, gt=0, le=100_000)
    demand: DemandFilter = DemandFilter()
    purpose: list[SafeStr] | None = Field(
        None,
        max_length=50,
        description="existing cameras that count as coverage (all when omitted)",
    )
    exclude_covered: bool = True
    method: Literal["greedy", "exact", "both"] = "both"
    time_limit_s: FiniteFloat = Field(30.0, gt=0, le=600)


def _site(session: Any, req: SitingRequest) -> dict[str, Any]:
    return siting.site_cameras(
        session,
        k=req.k,
        radius_m=req.radius_m,
        candidates=None if req.candidates is None else [(c.lon, c.lat) for c in req.candidates],
        candidate_source=req.candidate_source,
        grid_spacing_m=req.grid_spacing_m,
        bbox=_bbox(req.demand.bbox, field="demand.bbox"),
        start=req.demand.start,
        end=req.demand.end,
        kind=req.demand.kind,
        purposes=req.purpose,
        exclude_covered=req.exclude_covered,
        method=req.method,
        time_limit_s=req.time_limit_s,
    )


@router.post("/api/siting")
def post_siting(req: SitingRequest, session: SessionDep) -> dict[str, Any]:
    """Choose k new camera sites maximising incidents covered within radius_m (MCLP): greedy
    and/or exact MILP, with each site's marginal gain, coverage before/after and the gap."""
    out = _site(session, req)
    out["type"] = "FeatureCollection"
    out["features"] = [
        {
            "type": "Feature",
            "id": s["rank"],
            "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
            "properties": {k: v for k, v in s.items() if k not in ("lon", "lat")},
        }
        for s in out["sites"]
    ]
    return out


@router.get("/api/coverage/map", response_class=HTMLResponse)
def coverage_map(
    session: SessionDep,
    bbox: Annotated[BBoxStr, Query(description="min_lon,min_lat,max_lon,max_lat (EPSG:4326)")],
    cell_size_m: CellSizeM | None = Query(None, description="hexagon edge length in metres"),
    purpose: SafeStr | None = Query(None, description="camera purposes, comma-separated"),
    kind: SafeStr | None = Query(None),
    start: SaneDatetime | None = Query(None),
    end: SaneDatetime | None = Query(None),
    k: int = Query(0, ge=0, le=siting.MAX_K, description="also propose k new sites (0: none)"),
    radius_m: Annotated[RadiusM, Query(description="radius of a proposed site")] = 50.0,
) -> HTMLResponse:
    """An offline HTML map of the camera views, the gap choropleth and (k > 0) proposed sites."""
    from maps.base import render
    from maps.coverage import coverage_map as build

    box = BBox.parse(bbox, max_area_km2=coverage.MAX_BBOX_KM2)
    if k < 0:
        raise InvalidInput("k must be >= 0 (0: no siting)", field="k")
    purposes = _purposes(purpose)
    g = coverage.coverage_gaps(
        session,
        bbox=box,
        cell_size_m=cell_size_m,
        start=start,
        end=end,
        kind=kind,
        purposes=purposes,
    )
    sites = None
    if k > 0:
        sites = siting.site_cameras(
            session,
            k=k,
            radius_m=radius_m,
            bbox=box,
            start=start,
            end=end,
            kind=kind,
            purposes=purposes,
            method="greedy",
        )
    # the cameras and their views come from the vector tiles (the page holds none: a national
    # registry costs the page nothing), fetched with the page's own session cookie
    m = build(
        gaps=coverage.gaps_geojson(g),
        siting=sites,
        bbox=(box.min_lon, box.min_lat, box.max_lon, box.max_lat),
        camera_tiles=CAMERA_TILES,
        purposes=purposes,
    )
    return HTMLResponse(render(m))
