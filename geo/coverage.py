"""Camera coverage for planners: what the cameras cover, where incidents fall outside, a hex gap grid.

Coverage is the stored field of view of each camera (``camera_views``, written by
:func:`geo.views.refresh_camera_views`, the one view model); nothing here re-derives view geometry.
Set operations (union, intersection) run in PostGIS on the stored EPSG:4326 polygons, and every
length and area is measured on ``geography`` (metres, square metres), so one query serves Daejeon
and Helsinki alike without picking a projection.

Two measures of "covered" are reported side by side, because most public inventories record no
camera direction (the view is then a full circle of the default range, see :mod:`geo.views`):

* **in coverage**: the incident lies inside at least one camera's view polygon;
* **within d m**: the incident lies within ``d`` metres of a camera point (50/100/300 m by default),
  a simple distance measure that does not depend on the view model's defaults.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import h3
import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.bbox import BBox
from geo.errors import InvalidInput
from geo.models.core import CAMERA_PURPOSES, INCIDENT_KINDS

#: Distances (metres) reported by default for the "within d m of a camera" measure.
DEFAULT_DISTANCES_M: tuple[float, ...] = (50.0, 100.0, 300.0)
#: The largest hexagon grid a gap request may produce (cells over the area).
MAX_GRID_CELLS = 200_000
#: Largest bbox the coverage routes work on (km²; about 500 km x 500 km): a region, not the world.
MAX_BBOX_KM2 = 250_000.0
#: Hexagon edge length used when neither ``cell_size_m`` nor ``resolution`` is given.
DEFAULT_CELL_SIZE_M = 200.0


# ---------------------------------------------------------------------------------------------
# filters


def check_filters(
    *,
    kind: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    purposes: Sequence[str] | None = None,
) -> None:
    """Validate the shared demand/camera filters, raising :class:`InvalidInput` naming the field."""
    if kind is not None and kind not in INCIDENT_KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(INCIDENT_KINDS)}, got {kind!r}", field="kind"
        )
    if start is not None and end is not None and start >= end:
        raise InvalidInput("start must be before end", field="start")
    for p in purposes or ():
        if p not in CAMERA_PURPOSES:
            raise InvalidInput(
                f"purpose must be among {', '.join(CAMERA_PURPOSES)}, got {p!r}", field="purpose"
            )


def _incident_where(
    *,
    bbox: BBox | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
    kind: str | None,
    alias: str = "i",
) -> tuple[str, dict[str, Any]]:
    conds = ["true"]
    params: dict[str, Any] = {}
    if bbox is not None:
        conds.append(f"{alias}.geom && st_makeenvelope(:x0, :y0, :x1, :y1, 4326)")
        params.update(x0=bbox.min_lon, y0=bbox.min_lat, x1=bbox.max_lon, y1=bbox.max_lat)
    if start is not None:
        conds.append(f"{alias}.occurred_at >= :start")
        params["start"] = start
    if end is not None:
        conds.append(f"{alias}.occurred_at < :end")
        params["end"] = end
    if kind is not None:
        conds.append(f"{alias}.kind = :kind")
        params["kind"] = kind
    return " and ".join(conds), params


def _camera_where(purposes: Sequence[str] | None, alias: str = "c") -> tuple[str, dict[str, Any]]:
    if purposes:
        return f"{alias}.status = 'active' and {alias}.purpose = any(:purposes)", {
            "purposes": list(purposes)
        }
    return f"{alias}.status = 'active'", {}


# ---------------------------------------------------------------------------------------------
# incidents against coverage


def incident_coverage(
    session: Session,
    *,
    bbox: BBox | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    kind: str | None = None,
    purposes: Sequence[str] | None = None,
    max_distance_m: float = max(DEFAULT_DISTANCES_M),
) -> pd.DataFrame:
    """One row per incident matching the filters, with whether it lies in a camera view.

    Columns: ``id, kind, occurred_at, lon, lat, covered`` (inside any view polygon of a camera of
    ``purposes``) and ``nearest_camera_m`` (geodesic distance to the nearest such camera point,
    NaN when none is within ``max_distance_m``). Cameras outside ``bbox`` count too: a camera
    just across the edge still watches an incident inside it.
    """
    check_filters(kind=kind, start=start, end=end, purposes=purposes)
    iw, params = _incident_where(bbox=bbox, start=start, end=end, kind=kind)
    cw, cparams = _camera_where(purposes)
    params.update(cparams, dmax=float(max_distance_m))
    rows = session.execute(
        text(f"""
        select i.id, i.kind, i.occurred_at, st_x(i.geom) as lon, st_y(i.geom) as lat,
               exists (select 1 from camera_views v join cameras c on c.id = v.camera_id
                       where st_intersects(v.geom, i.geom) and {cw}) as covered,
               (select min(st_distance(c.geom::geography, i.geom::geography)) from cameras c
                 where {cw} and st_dwithin(c.geom::geography, i.geom::geography, :dmax))
                 as nearest_camera_m
        from incidents i where {iw} order by i.id"""),
        params,
    ).all()
    df = pd.DataFrame(
        rows, columns=["id", "kind", "occurred_at", "lon", "lat", "covered", "nearest_camera_m"]
    )
    df["nearest_camera_m"] = df["nearest_camera_m"].astype(float)
    df["covered"] = df["covered"].astype(bool)
    return df


def within_distance_table(
    df: pd.DataFrame, *, distances_m: Sequence[float] = DEFAULT_DISTANCES_M, by: str | None = None
) -> pd.DataFrame:
    """Counts and shares of incidents within each distance of a camera (and in coverage).

    ``df`` is :func:`incident_coverage` output; ``by`` optionally names a column to group by
    (e.g. ``"year"`` or ``"hour"`` after deriving it from ``occurred_at``).
    """
    agg: dict[str, tuple[str, str]] = {
        "incidents": ("id", "size"),
        "in_coverage": ("covered", "sum"),
    }
    d = df.assign(all="all")
    for m in distances_m:
        name = f"within_{int(m)}m"
        d[name] = d["nearest_camera_m"] <= m
        agg[name] = (name, "sum")
    out = d.groupby(by or "all").agg(**agg)
    for c in [c for c in out.columns if c != "incidents"]:
        out[f"{c}_share"] = (out[c] / out["incidents"].where(out["incidents"] > 0)).round(4)
    return out


def _share(n: float, total: float) -> float | None:
    return round(n / total, 4) if total else None


# ---------------------------------------------------------------------------------------------
# summary


def coverage_summary(
    session: Session,
    *,
    bbox: BBox | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    kind: str | None = None,
    purposes: Sequence[str] | None = None,
    distances_m: Sequence[float] = DEFAULT_DISTANCES_M,
) -> dict[str, Any]:
    """Coverage of an area (``bbox``, or everything loaded when ``None``) by the camera views.

    Reports camera counts by purpose, covered area and overlap (area seen by two or more cameras
    over covered area), covered road length by highway class (where roads are loaded), and the
    share of incidents in coverage and within ``distances_m`` of a camera, by kind and by year
    (UTC years; use :func:`incident_coverage` for local-time breakdowns).
    """
    check_filters(kind=kind, start=start, end=end, purposes=purposes)
    ds = sorted({float(x) for x in distances_m})
    if not ds or ds[0] <= 0 or ds[-1] > 5000:
        raise InvalidInput("distances_m must be within (0, 5000] metres", field="distances_m")
    cw, cparams = _camera_where(purposes)
    params: dict[str, Any] = dict(cparams)
    if bbox is not None:
        params.update(x0=bbox.min_lon, y0=bbox.min_lat, x1=bbox.max_lon, y1=bbox.max_lat)
        env = "st_makeenvelope(:x0, :y0, :x1, :y1, 4326)"
        clip = f"st_intersection(v.geom, {env})"
        vwhere = f"v.geom && {env} and st_intersects(v.geom, {env})"
        cam_where = f"c.geom && {env}"
    else:
        clip, vwhere, cam_where = "v.geom", "true", "true"
    notes: list[str] = []

    # cameras (points inside the area) by purpose, and view facts
    cams = session.execute(
        text(f"""
        select c.purpose, count(*) as n, coalesce(sum(c.camera_count), 0) as units,
               count(*) filter (where v.direction_known) as direction_known
        from cameras c left join camera_views v on v.camera_id = c.id
        where {cw} and {cam_where} group by c.purpose order by c.purpose"""),
        params,
    ).all()
    by_purpose = {r.purpose: {"cameras": int(r.n), "camera_units": int(r.units)} for r in cams}
    n_cams = sum(int(r.n) for r in cams)
    n_known = sum(int(r.direction_known) for r in cams)
    if n_cams and n_known < n_cams:
        notes.append(
            f"{n_cams - n_known} of {n_cams} cameras have no recorded direction: their coverage "
            "is a full circle of the default range (geo.views), an upper bound on what they see"
        )

    # the views as distinct shapes in an indexed temp table: co-located cameras (the 2015 list, the
    # national standard file and multi-camera poles repeat one site) share one view polygon, so a
    # shape seen by n >= 2 cameras is overlap as a whole and its pairs need no intersection. Shapes
    # whose bounding boxes touch share a cluster k (DBSCAN, eps 0, on the boxes: cheap): clusters
    # are disjoint, so unions run per cluster (many small unions instead of one giant one, which
    # took 21 s on the whole database) and their areas add up.
    session.execute(text("drop table if exists _gt_coverage_views"))
    session.execute(
        text(f"""
        create temp table _gt_coverage_views as
        select s.*, st_clusterdbscan(st_envelope(s.geom), 0, 1) over () as k
        from (select {clip} as geom, count(*) as n, min(v.camera_id) as id
              from camera_views v join cameras c on c.id = v.camera_id
              where {cw} and {vwhere} group by 1) s"""),
        params,
    )
    session.execute(text("create index on _gt_coverage_views using gist (geom)"))
    session.execute(text("analyze _gt_coverage_views"))
    # the union of the views, cut into small pieces in an indexed temp table: pieces partition the
    # covered area, so area and road length inside it are plain sums over index-probed pieces
    session.execute(text("drop table if exists _gt_coverage_pieces"))
    session.execute(
        text("""
        create temp table _gt_coverage_pieces as
        select st_subdivide(u.geom, 96) as geom
        from (select st_union(geom) as geom from _gt_coverage_views group by k) u""")
    )
    session.execute(text("create index on _gt_coverage_pieces using gist (geom)"))
    session.execute(text("analyze _gt_coverage_pieces"))
    # covered area, and overlap: the area seen by >= 2 cameras, i.e. the union of the shapes seen
    # by several cameras and of the pairwise intersections of the others (found by indexed probe)
    area = session.execute(
        text("""
        with o as (
            select k, geom from _gt_coverage_views where n >= 2
            union all
            select a.k, st_intersection(a.geom, b.geom) from _gt_coverage_views a
              join _gt_coverage_views b
                on b.k = a.k and b.id > a.id and st_intersects(b.geom, a.geom)
             where a.n = 1 and b.n = 1)
        select (select coalesce(sum(n), 0) from _gt_coverage_views) as n_views,
               coalesce((select sum(st_area(geom::geography)) from _gt_coverage_pieces), 0)
                 as covered_m2,
               coalesce((select sum(n * st_area(geom::geography)) from _gt_coverage_views), 0)
                 as sum_view_m2,
               coalesce((select sum(st_area(g::geography))
                           from (select st_union(geom) as g from o group by k) u), 0)
                 as overlap_m2""")
    ).one()
    covered_m2 = float(area.covered_m2)
    area_out: dict[str, Any] = {
        "views": int(area.n_views),
        "covered_area_m2": round(covered_m2, 1),
        "sum_of_view_areas_m2": round(float(area.sum_view_m2), 1),
        "overlap_area_m2": round(float(area.overlap_m2), 1),
        "overlap_share": _share(float(area.overlap_m2), covered_m2),
    }
    if bbox is not None:
        bbox_m2 = session.execute(
            text("select st_area(st_makeenvelope(:x0, :y0, :x1, :y1, 4326)::geography)"), params
        ).scalar_one()
        area_out["bbox_area_m2"] = round(float(bbox_m2), 1)
        area_out["covered_share_of_bbox"] = _share(covered_m2, float(bbox_m2))

    # road length by highway class (edges clipped to the bbox), and the part inside coverage
    rgeom, rwhere = "e.geom", "true"
    if bbox is not None:
        rgeom = "st_intersection(e.geom, st_makeenvelope(:x0, :y0, :x1, :y1, 4326))"
        rwhere = "e.geom && st_makeenvelope(:x0, :y0, :x1, :y1, 4326)"
    roads = session.execute(
        text(f"""
        with e as materialized (
            select e.id, coalesce(e.highway, 'unknown') as highway, {rgeom} as geom
            from road_edges e where {rwhere}),
        cov as (
            select e.highway, sum(st_length(st_intersection(e.geom, p.geom)::geography)) as m
            from e join _gt_coverage_pieces p on st_intersects(e.geom, p.geom) group by 1),
        tot as (select highway, sum(st_length(geom::geography)) as m from e group by 1)
        select tot.highway, tot.m as len_m, coalesce(cov.m, 0) as cov_m
        from tot left join cov using (highway) where tot.m > 0 order by tot.m desc"""),
        params,
    ).all()
    session.execute(text("drop table if exists _gt_coverage_pieces, _gt_coverage_views"))
    road_len = sum(float(r.len_m) for r in roads)
    road_cov = sum(float(r.cov_m) for r in roads)
    if not roads:
        notes.append(
            "no road network is loaded in this area (e.g. Daejeon ships without roads): "
            "road_length_m is 0 and road coverage cannot be measured here"
        )
    roads_out = {
        "road_length_m": round(road_len, 1),
        "covered_length_m": round(road_cov, 1),
        "covered_share": _share(road_cov, road_len),
        "by_highway": {
            r.highway: {
                "length_m": round(float(r.len_m), 1),
                "covered_length_m": round(float(r.cov_m), 1),
                "covered_share": _share(float(r.cov_m), float(r.len_m)),
            }
            for r in roads
        },
    }

    # incidents
    df = incident_coverage(
        session,
        bbox=bbox,
        start=start,
        end=end,
        kind=kind,
        purposes=purposes,
        max_distance_m=ds[-1],
    )

    def _inc(d: pd.DataFrame) -> dict[str, Any]:
        n = len(d)
        out: dict[str, Any] = {
            "incidents": n,
            "in_coverage": int(d["covered"].sum()),
            "in_coverage_share": _share(float(d["covered"].sum()), n),
        }
        out["within_m"] = {
            str(int(m) if float(m).is_integer() else m): {
                "count": int((d["nearest_camera_m"] <= m).sum()),
                "share": _share(float((d["nearest_camera_m"] <= m).sum()), n),
            }
            for m in ds
        }
        return out

    inc_out = _inc(df)
    inc_out["by_kind"] = {k: _inc(g) for k, g in df.groupby("kind")}
    if len(df):
        years = pd.to_datetime(df["occurred_at"], utc=True).dt.year
        inc_out["by_year"] = {str(y): _inc(g) for y, g in df.groupby(years)}
        inc_out["first_at"] = pd.Timestamp(df["occurred_at"].min()).isoformat()
        inc_out["last_at"] = pd.Timestamp(df["occurred_at"].max()).isoformat()
    else:
        inc_out["by_year"] = {}
        notes.append("no incidents match the filters in this area")

    return {
        "area": {"bbox": None if bbox is None else list(_bbox_tuple(bbox)), "whole": bbox is None},
        "filters": {
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
            "kind": kind,
            "purposes": list(purposes) if purposes else None,
        },
        "cameras": {
            "count": n_cams,
            "direction_known": n_known,
            "by_purpose": by_purpose,
        },
        "coverage": area_out,
        "roads": roads_out,
        "incidents": inc_out,
        "notes": notes,
    }


def _bbox_tuple(b: BBox) -> tuple[float, float, float, float]:
    return (b.min_lon, b.min_lat, b.max_lon, b.max_lat)


# ---------------------------------------------------------------------------------------------
# gap grid


def resolution_for_cell_size(cell_size_m: float) -> int:
    """The H3 resolution whose average hexagon edge length is nearest to ``cell_size_m``.

    Compared on a log scale (each resolution is about 2.65x finer than the one above).
    """
    if not (cell_size_m > 0 and math.isfinite(cell_size_m)):
        raise InvalidInput("cell_size_m must be a positive number of metres", field="cell_size_m")
    edges = np.array([h3.average_hexagon_edge_length(r, unit="m") for r in range(16)])
    return int(np.argmin(np.abs(np.log(edges) - math.log(cell_size_m))))


def coverage_gaps(
    session: Session,
    *,
    bbox: BBox | None = None,
    cell_size_m: float | None = None,
    resolution: int | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    kind: str | None = None,
    purposes: Sequence[str] | None = None,
    include_empty: bool = False,
    max_cells: int = MAX_GRID_CELLS,
) -> dict[str, Any]:
    """Incidents and coverage on an H3 hexagon grid over ``bbox``.

    Each cell gets ``incidents``, ``covered_incidents``, ``covered_fraction`` (share of the cell's
    area inside any camera view) and ``gap_score`` (incidents not covered: where a new camera would
    see the most). ``cell_size_m`` is the hexagon edge length (mapped to the nearest H3
    resolution); ``resolution`` picks it directly. Grids over ``max_cells`` cells are refused.
    Without ``bbox`` the grid is sparse: only cells holding incidents or touching a view.
    Returns ``{"resolution", "cell_edge_m", "cells": [dict with h3, boundary (lon, lat ring) ...],
    "meta": ...}``; cells with neither incidents nor coverage are omitted unless ``include_empty``.
    """
    check_filters(kind=kind, start=start, end=end, purposes=purposes)
    if resolution is not None and cell_size_m is not None:
        raise InvalidInput("give cell_size_m or resolution, not both", field="resolution")
    if resolution is not None:
        if not 0 <= int(resolution) <= 15:
            raise InvalidInput("resolution must be an H3 resolution 0..15", field="resolution")
        res = int(resolution)
        size_field = "resolution"
    else:
        res = resolution_for_cell_size(DEFAULT_CELL_SIZE_M if cell_size_m is None else cell_size_m)
        size_field = "cell_size_m"
    too_big = (
        "the grid would have about {n:,.0f} cells (limit {lim:,}): use a larger "
        f"{size_field} or a smaller bbox"
    )
    cell_m2 = h3.average_hexagon_area(res, unit="m^2")
    edge_m = h3.average_hexagon_edge_length(res, unit="m")
    grid: set[str] = set()
    if bbox is not None:
        # a full grid over the bbox: refuse huge grids before building them
        area_m2 = session.execute(
            text("select st_area(st_makeenvelope(:a, :b, :c, :d, 4326)::geography)"),
            dict(zip("abcd", _bbox_tuple(bbox), strict=True)),
        ).scalar_one()
        est = float(area_m2 or 0.0) / cell_m2
        if est > max_cells:
            raise InvalidInput(
                too_big.format(n=est, lim=max_cells), field=size_field, estimated_cells=int(est)
            )
        poly = h3.LatLngPoly(
            [
                (bbox.min_lat, bbox.min_lon),
                (bbox.min_lat, bbox.max_lon),
                (bbox.max_lat, bbox.max_lon),
                (bbox.max_lat, bbox.min_lon),
            ]
        )
        grid = set(h3.h3shape_to_cells_experimental(poly, res, contain="overlap"))

    # the camera views in the area, and the cells each may touch (a disk around the camera)
    cw, cparams = _camera_where(purposes)
    vwhere, vparams = "true", {}
    if bbox is not None:
        vwhere = "v.geom && st_makeenvelope(:x0, :y0, :x1, :y1, 4326)"
        vparams = dict(zip(("x0", "y0", "x1", "y1"), _bbox_tuple(bbox), strict=True))
    vrows = session.execute(
        text(f"""
        select st_x(c.geom), st_y(c.geom), v.range_m from camera_views v
        join cameras c on c.id = v.camera_id where {cw} and {vwhere}"""),
        {**cparams, **vparams},
    ).all()
    ks = [int(math.ceil(float(r) / (edge_m * math.sqrt(3) / 2))) + 1 for _, _, r in vrows]
    est_touched = sum(3 * k * k + 3 * k + 1 for k in ks)
    if est_touched > 5 * max_cells:
        raise InvalidInput(
            too_big.format(n=est_touched, lim=max_cells),
            field=size_field,
            estimated_cells=int(est_touched),
        )

    # incidents -> cells (without a bbox the grid is sparse: cells with incidents or coverage)
    df = incident_coverage(session, bbox=bbox, start=start, end=end, kind=kind, purposes=purposes)
    df["h3"] = [h3.latlng_to_cell(la, lo, res) for lo, la in zip(df["lon"], df["lat"], strict=True)]
    counts = df.groupby("h3").agg(incidents=("id", "size"), covered_incidents=("covered", "sum"))
    grid |= set(counts.index)
    touched: set[str] = set()
    for (lon, lat, _), k in zip(vrows, ks, strict=True):
        touched.update(h3.grid_disk(h3.latlng_to_cell(lat, lon, res), k))
    if bbox is not None:
        touched &= grid
    else:
        grid |= touched
    if len(grid) > max_cells:
        raise InvalidInput(
            too_big.format(n=len(grid), lim=max_cells), field=size_field, estimated_cells=len(grid)
        )
    frac: dict[str, tuple[float, float]] = {}
    if touched:
        ids = sorted(touched)
        wkts = [_cell_wkt(c) for c in ids]
        fr = session.execute(
            text(f"""
            with cell as (select unnest(cast(:ids as text[])) as h3,
                                 st_geomfromtext(unnest(cast(:wkts as text[])), 4326) as geom)
            select cell.h3, st_area(cell.geom::geography) as cell_m2,
                   st_area(st_intersection(cell.geom, st_union(v.geom))::geography) as cov_m2
            from cell join camera_views v on st_intersects(v.geom, cell.geom)
            join cameras c on c.id = v.camera_id where {cw}
            group by cell.h3, cell.geom"""),
            {**cparams, "ids": ids, "wkts": wkts},
        ).all()
        frac = {r.h3: (float(r.cov_m2), float(r.cell_m2)) for r in fr}
    cells = []
    for cid in grid:
        n = int(counts["incidents"].get(cid, 0)) if len(counts) else 0
        nc = int(counts["covered_incidents"].get(cid, 0)) if len(counts) else 0
        cov_m2, cell_m2 = frac.get(cid, (0.0, h3.cell_area(cid, unit="m^2")))
        if not include_empty and n == 0 and cov_m2 <= 0:
            continue
        cells.append(
            {
                "h3": cid,
                "incidents": n,
                "covered_incidents": nc,
                "gap_score": n - nc,
                "covered_fraction": round(min(1.0, cov_m2 / cell_m2), 4) if cell_m2 else 0.0,
                "covered_area_m2": round(cov_m2, 1),
                "cell_area_m2": round(cell_m2, 1),
                "boundary": [(lo, la) for la, lo in h3.cell_to_boundary(cid)],
            }
        )
    cells.sort(key=lambda c: (-c["gap_score"], -c["incidents"], c["h3"]))
    return {
        "resolution": res,
        "cell_edge_m": round(edge_m, 1),
        "cells": cells,
        "meta": {
            "bbox": None if bbox is None else list(_bbox_tuple(bbox)),
            "grid": "full grid over bbox" if bbox is not None else "cells with incidents or views",
            "grid_cells": len(grid),
            "cells_returned": len(cells),
            "incidents": len(df),
            "covered_incidents": int(df["covered"].sum()) if len(df) else 0,
            "uncovered_incidents": int((~df["covered"]).sum()) if len(df) else 0,
        },
    }


def _cell_wkt(cell: str) -> str:
    ring = [(lo, la) for la, lo in h3.cell_to_boundary(cell)]
    ring.append(ring[0])
    return "POLYGON((" + ",".join(f"{x} {y}" for x, y in ring) + "))"


def gaps_geojson(gaps: dict[str, Any]) -> dict[str, Any]:
    """The gap grid as a GeoJSON FeatureCollection (one Polygon per cell)."""
    feats = []
    for c in gaps["cells"]:
        ring = [list(p) for p in c["boundary"]]
        ring.append(ring[0])
        props = {k: v for k, v in c.items() if k != "boundary"}
        feats.append(
            {
                "type": "Feature",
                "id": c["h3"],
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": props,
            }
        )
    return {
        "type": "FeatureCollection",
        "features": feats,
        "resolution": gaps["resolution"],
        "cell_edge_m": gaps["cell_edge_m"],
        **gaps["meta"],
    }


def views_geojson(
    session: Session,
    *,
    bbox: BBox | None = None,
    purposes: Sequence[str] | None = None,
    limit: int = 20_000,
) -> dict[str, Any]:
    """The stored camera views in ``bbox`` as a GeoJSON FeatureCollection (for maps)."""
    cw, params = _camera_where(purposes)
    where = "true"
    if bbox is not None:
        where = "v.geom && st_makeenvelope(:x0, :y0, :x1, :y1, 4326)"
        params.update(dict(zip(("x0", "y0", "x1", "y1"), _bbox_tuple(bbox), strict=True)))
    rows = session.execute(
        text(f"""
        select c.id, c.purpose, c.name, v.range_m, v.fov_deg, v.heading_deg, v.direction_known,
               st_asgeojson(v.geom, 7)::json as geometry, st_x(c.geom) as lon, st_y(c.geom) as lat
        from camera_views v join cameras c on c.id = v.camera_id
        where {cw} and {where} order by c.id limit :limit"""),
        {**params, "limit": limit},
    ).mappings()
    feats = []
    for r in rows:
        props = {k: r[k] for k in r if k != "geometry"}
        feats.append(
            {"type": "Feature", "id": r["id"], "geometry": r["geometry"], "properties": props}
        )
    return {"type": "FeatureCollection", "features": feats}
