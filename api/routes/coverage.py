"""``/api/coverage`` and ``/api/siting``: what the cameras cover, the gaps, and where to add cameras."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from api.deps import CurrentUser, SessionDep
from geo import coverage, siting
from geo.bbox import BBox
from geo.errors import InvalidInput


def planner(user: CurrentUser) -> None:
    """Only planners (and admins) use the planning endpoints; 403 for other roles."""
    coverage.check_planner(user.role)


router = APIRouter(tags=["coverage"], dependencies=[Depends(planner)])

BBOX_DOC = "min_lon,min_lat,max_lon,max_lat (EPSG:4326); whole database when omitted"


def _purposes(purpose: str | None) -> list[str] | None:
    return [p.strip() for p in purpose.split(",") if p.strip()] if purpose else None


def _bbox(bbox: str | None) -> BBox | None:
    return BBox.parse(bbox) if bbox else None


@router.get("/api/coverage/summary")
def coverage_summary(
    session: SessionDep,
    bbox: str | None = Query(None, description=BBOX_DOC, examples=["127.30,36.33,127.40,36.40"]),
    start: dt.datetime | None = Query(None, description="incidents with occurred_at >= start"),
    end: dt.datetime | None = Query(None, description="incidents with occurred_at < end"),
    kind: str | None = Query(None, description="incident kind, e.g. traffic"),
    purpose: str | None = Query(None, description="camera purposes, comma-separated"),
) -> dict[str, Any]:
    """Cameras, covered area and overlap, covered road length by class, and incidents in coverage
    and within 50/100/300 m of a camera (by kind and year) for a bbox or everything loaded."""
    return coverage.coverage_summary(
        session, bbox=_bbox(bbox), start=start, end=end, kind=kind, purposes=_purposes(purpose)
    )


@router.get("/api/coverage/gaps")
def coverage_gaps(
    session: SessionDep,
    bbox: str | None = Query(None, description=BBOX_DOC + " (then only cells with data)"),
    cell_size_m: float | None = Query(
        None, description="hexagon edge length in metres (nearest H3 resolution; default 200)"
    ),
    resolution: int | None = Query(None, description="H3 resolution 0..15 instead of a size"),
    start: dt.datetime | None = Query(None),
    end: dt.datetime | None = Query(None),
    kind: str | None = Query(None),
    purpose: str | None = Query(None, description="camera purposes, comma-separated"),
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
    lon: float
    lat: float


class DemandFilter(BaseModel):
    kind: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    bbox: str | None = Field(default=None, description=BBOX_DOC)


class SitingRequest(BaseModel):
    k: int = Field(description="number of new sites (1..1000)")
    radius_m: float = Field(50.0, description="a site covers incidents within this distance")
    candidates: list[CandidatePoint] | None = Field(
        None, description="candidate sites; default: road intersections, else a metric grid"
    )
    candidate_source: Literal["auto", "given", "road_nodes", "grid", "incidents"] = "auto"
    grid_spacing_m: float | None = None
    demand: DemandFilter = DemandFilter()
    purpose: list[str] | None = Field(
        None, description="existing cameras that count as coverage (all when omitted)"
    )
    exclude_covered: bool = True
    method: Literal["greedy", "exact", "both"] = "both"
    time_limit_s: float = 30.0


def _site(session: Any, req: SitingRequest) -> dict[str, Any]:
    return siting.site_cameras(
        session,
        k=req.k,
        radius_m=req.radius_m,
        candidates=None if req.candidates is None else [(c.lon, c.lat) for c in req.candidates],
        candidate_source=req.candidate_source,
        grid_spacing_m=req.grid_spacing_m,
        bbox=BBox.parse(req.demand.bbox, field="demand.bbox") if req.demand.bbox else None,
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
    bbox: str = Query(..., description="min_lon,min_lat,max_lon,max_lat (EPSG:4326)"),
    cell_size_m: float | None = Query(None, description="hexagon edge length in metres"),
    purpose: str | None = Query(None, description="camera purposes, comma-separated"),
    kind: str | None = Query(None),
    start: dt.datetime | None = Query(None),
    end: dt.datetime | None = Query(None),
    k: int = Query(0, description="also propose k new sites (0: none)"),
    radius_m: float = Query(50.0, description="radius of a proposed site"),
) -> HTMLResponse:
    """An offline HTML map of the camera views, the gap choropleth and (k > 0) proposed sites."""
    from maps.base import render
    from maps.coverage import coverage_map as build

    box = BBox.parse(bbox)
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
    views = coverage.views_geojson(session, bbox=box, purposes=purposes)
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
    m = build(
        views=views,
        gaps=coverage.gaps_geojson(g),
        siting=sites,
        bbox=(box.min_lon, box.min_lat, box.max_lon, box.max_lat),
    )
    return HTMLResponse(render(m))
