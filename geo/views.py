"""The one camera view model: what a camera can see.

Nearest-camera ranking (``in_view``, ``line_of_sight``), routing (road edges a camera sees) and
coverage (area covered) all use this module, so a camera's field of view is defined once:

* **Direction**: ``heading_deg`` clockwise from north, like OSM ``camera:direction``; ``None`` when
  unknown (most public inventories do not record it).
* **Field of view** ``fov_deg``: the camera's own value, else :data:`DEFAULT_FOV_DEG` by type. PTZ and
  dome cameras can turn, so they cover a full circle over time (``fov_deg = 360`` for coverage) but
  need ``pan_deg`` of turning to look at a given point.
* **Range** ``range_m``: the camera's own value, else :data:`DEFAULT_RANGE_M` by purpose: the distance
  at which a person is still recognisable in typical 2 MP public CCTV (Korean guidance for
  crime-prevention cameras assumes about 30-50 m; traffic cameras watch whole junctions).
* **Unknown direction**: the view is a full circle of the default range, flagged
  ``direction_known = False``; such a camera is never claimed to have the point *in view*
  (``in_view`` is ``None``), only to be near enough.
* **Buildings** block sight: the stored view polygon is a 2-D viewshed, rays cast from the camera
  and cut at the first footprint they hit (the building the camera is mounted on is ignored).
* **Image quality at a point (DORI, EN 62676-4)**: pixels per metre across the scene at distance
  ``d``: ``px/m = horizontal_px / (2 d tan(hfov / 2))``, with ``horizontal_px`` from the total
  resolution (카메라화소수 x 10,000; 16:9 assumed: ``sqrt(px * 16 / 9)``) and ``hfov`` the lens's
  horizontal field of view (:func:`dori_lens_fov_deg`). Levels: detect 25, observe 62.5,
  recognise 125, identify 250 px/m (:data:`DORI_LEVELS`). Unknown resolution: no value, said so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import metric_crs_for_points
from geo.db import Plan, run_plan

GEOD = Geod(ellps="WGS84")

#: Recognition range by purpose when the inventory gives none (metres).
DEFAULT_RANGE_M: dict[str, float] = {
    "crime_prevention": 50.0,
    "child_protection": 40.0,
    "traffic": 150.0,
    "disaster": 300.0,
    "other": 50.0,
}
#: Horizontal field of view by camera type when unknown (degrees). PTZ/dome: full circle by panning.
DEFAULT_FOV_DEG: dict[str, float] = {
    "fixed": 70.0,
    "bullet": 70.0,
    "dome": 360.0,
    "ptz": 360.0,
    "panning": 360.0,
}
FIXED_FOV_DEG = 70.0
#: Buildings whose footprint lies within this distance of the camera are its mount, not obstacles.
MOUNT_TOLERANCE_M = 2.0
#: Angular step of the viewshed rays (degrees).
RAY_STEP_DEG = 3.0


#: EN 62676-4 DORI levels, best first: (name, minimum pixels per metre).
DORI_LEVELS: tuple[tuple[str, float], ...] = (
    ("identify", 250.0),
    ("recognise", 125.0),
    ("observe", 62.5),
    ("detect", 25.0),
)
#: The level name of a point below 25 px/m.
DORI_BELOW = "below_detect"
#: Image aspect ratio assumed when only the total pixel count is known (1080p, 4 MP 1440p...).
DORI_ASPECT = 16.0 / 9.0
#: A camera closer than this is measured at this distance (px/m grows without bound at 0 m).
DORI_MIN_DISTANCE_M = 1.0
#: Rank of each level for the nearest-camera ranking: unknown ranks with "detect" (it may be as
#: good, it is not shown to be better), "below_detect" last.
DORI_RANK: dict[str | None, int] = {
    "identify": 4,
    "recognise": 3,
    "observe": 2,
    "detect": 1,
    None: 1,
    DORI_BELOW: 0,
}


@dataclass(frozen=True)
class View:
    """Effective field of view of one camera after defaults are applied."""

    heading_deg: float | None
    fov_deg: float
    range_m: float
    range_is_default: bool
    direction_known: bool
    can_pan: bool


def effective_view(
    *,
    purpose: str | None,
    camera_type: str | None = None,
    heading_deg: float | None = None,
    fov_deg: float | None = None,
    range_m: float | None = None,
    ptz: bool = False,
) -> View:
    """Apply the documented defaults to a camera's recorded attributes."""
    ctype = (camera_type or "").lower()
    can_pan = bool(ptz) or ctype in ("ptz", "dome", "panning")
    rng = float(range_m) if range_m else DEFAULT_RANGE_M.get(purpose or "other", 50.0)
    if fov_deg:
        fov = float(fov_deg)
    elif can_pan:
        fov = 360.0
    else:
        fov = DEFAULT_FOV_DEG.get(ctype, FIXED_FOV_DEG)
    direction_known = heading_deg is not None or fov >= 360.0
    if heading_deg is None and fov < 360.0:
        fov = 360.0  # unknown direction: the whole circle is possible, nothing is claimed in view
    return View(
        heading_deg=None if heading_deg is None else float(heading_deg) % 360.0,
        fov_deg=fov,
        range_m=rng,
        range_is_default=not range_m,
        direction_known=direction_known,
        can_pan=can_pan,
    )


def view_of(camera: Any) -> View:
    """:func:`effective_view` of a camera row, ORM object or dict."""
    get = camera.get if isinstance(camera, dict) else lambda k, d=None: getattr(camera, k, d)
    return effective_view(
        purpose=get("purpose"),
        camera_type=get("camera_type"),
        heading_deg=get("heading_deg"),
        fov_deg=get("fov_deg"),
        range_m=get("range_m"),
        ptz=bool(get("ptz", False)),
    )


def dori_lens_fov_deg(*, fov_deg: float | None, camera_type: str | None = None) -> float:
    """Horizontal field of view of the lens (degrees) for DORI.

    The camera's own ``fov_deg`` when it is a lens angle (under 180 degrees). A recorded 360
    (all-round, PTZ panning) or no value is coverage over time, not a lens: the default lens of
    the type when it is one (:data:`DEFAULT_FOV_DEG`), else :data:`FIXED_FOV_DEG` (a PTZ at
    its widest zoom is about this wide).
    """
    if fov_deg is not None and 0 < float(fov_deg) < 180.0:
        return float(fov_deg)
    by_type = DEFAULT_FOV_DEG.get((camera_type or "").lower(), FIXED_FOV_DEG)
    return by_type if by_type < 180.0 else FIXED_FOV_DEG


def dori_px_per_m(
    *,
    resolution_px: np.ndarray | float | None,
    hfov_deg: np.ndarray | float,
    distance_m: np.ndarray | float,
    aspect: float = DORI_ASPECT,
) -> np.ndarray:
    """Pixels per metre across the scene at ``distance_m`` (NaN where the resolution is unknown).

    ``px/m = w / (2 d tan(hfov / 2))`` with ``w = sqrt(resolution_px * aspect)`` horizontal pixels
    and ``d`` at least :data:`DORI_MIN_DISTANCE_M`. Vectorised over cameras.
    """
    res = np.asarray(
        np.nan if resolution_px is None else resolution_px, dtype=float
    )  # None in an array -> nan
    res = np.where(res > 0, res, np.nan)
    width = np.sqrt(res * aspect)
    d = np.maximum(np.asarray(distance_m, dtype=float), DORI_MIN_DISTANCE_M)
    half = np.radians(np.asarray(hfov_deg, dtype=float)) / 2.0
    return width / (2.0 * d * np.tan(half))


def dori_level(px_per_m: float | None) -> str | None:
    """The EN 62676-4 level reached at ``px_per_m`` (``None`` when unknown)."""
    if px_per_m is None or not math.isfinite(px_per_m):
        return None
    for name, need in DORI_LEVELS:
        if px_per_m >= need:
            return name
    return DORI_BELOW


def dori_for(cameras: list[dict[str, Any]], distance_m: Any) -> list[dict[str, Any]]:
    """``dori_px_per_m``, ``dori_level`` and ``dori_note`` for camera dicts at given distances.

    Reads ``resolution_px``, ``fov_deg`` and ``camera_type`` of each dict (no query); the note
    says what was assumed, or that the resolution is unknown. The same formula as
    :func:`dori_px_per_m`, in plain Python: a nearest-camera answer has 20-50 candidates, too few
    for numpy to pay off on the hot path.
    """
    out = []
    for c, d in zip(cameras, np.asarray(distance_m, dtype=float).tolist(), strict=True):
        res = c.get("resolution_px")
        if not res or res <= 0:
            out.append(
                {"dori_px_per_m": None, "dori_level": None, "dori_note": "resolution unknown"}
            )
            continue
        fov = c.get("fov_deg")
        own = fov is not None and 0 < float(fov) < 180.0
        lens = dori_lens_fov_deg(fov_deg=fov, camera_type=c.get("camera_type"))
        p = math.sqrt(float(res) * DORI_ASPECT) / (
            2.0 * max(d, DORI_MIN_DISTANCE_M) * math.tan(math.radians(lens) / 2.0)
        )
        out.append(
            {
                "dori_px_per_m": round(p, 1),
                "dori_level": dori_level(p),
                "dori_note": f"{float(res) / 1e6:g} MP, 16:9 assumed, {lens:g}° lens"
                + ("" if own else " (default)"),
            }
        )
    return out


def angle_diff_deg(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Smallest absolute difference between two bearings (0..180)."""
    d = np.abs((np.asarray(a, dtype=float) - np.asarray(b, dtype=float) + 180.0) % 360.0 - 180.0)
    return d


def in_view(
    *,
    heading_deg: np.ndarray,
    fov_deg: np.ndarray,
    range_m: np.ndarray,
    direction_known: np.ndarray,
    distance_m: np.ndarray,
    bearing_deg: np.ndarray,
) -> np.ndarray:
    """Whether each point (distance, bearing from its camera) lies in the camera's view.

    Returns an object array of ``True``/``False``/``None``: ``False`` when beyond range, ``None`` when
    within range of a camera whose direction is unknown. Vectorised over cameras.
    """
    heading = np.asarray(heading_deg, dtype=float)
    fov = np.asarray(fov_deg, dtype=float)
    within = np.asarray(distance_m, dtype=float) <= np.asarray(range_m, dtype=float)
    known = np.asarray(direction_known, dtype=bool)
    full = fov >= 360.0
    inside = full | (angle_diff_deg(np.nan_to_num(heading), bearing_deg) <= fov / 2.0 + 1e-9)
    out = np.empty(within.shape, dtype=object)
    out[:] = False
    sel = within & known
    out[sel] = inside[sel]
    out[within & ~known] = None
    return out


def pan_deg(*, heading_deg: float | None, fov_deg: float, bearing_deg: float) -> float | None:
    """Degrees a camera must turn so the bearing falls inside its view (0 when it already does)."""
    if heading_deg is None:
        return None
    if fov_deg >= 360.0:
        return 0.0
    return max(0.0, float(angle_diff_deg(heading_deg, bearing_deg)) - fov_deg / 2.0)


def bearing_and_distance(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Geodesic forward azimuth (0..360, clockwise from north) and distance in metres, 1 -> 2."""
    az, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.mod(np.asarray(az), 360.0), np.asarray(dist)


def sector_polygon(lon: float, lat: float, view: View, *, step_deg: float = 5.0) -> Polygon:
    """The unobstructed view as a lon/lat polygon (geodesic sector, or circle when fov is 360)."""
    if view.fov_deg >= 360.0 or view.heading_deg is None:
        az = np.arange(0.0, 360.0, step_deg)
        lons, lats, _ = GEOD.fwd(
            np.full(az.size, lon), np.full(az.size, lat), az, np.full(az.size, view.range_m)
        )
        return Polygon(zip(lons, lats, strict=True))
    n = max(2, int(np.ceil(view.fov_deg / step_deg)) + 1)
    az = np.linspace(view.heading_deg - view.fov_deg / 2, view.heading_deg + view.fov_deg / 2, n)
    lons, lats, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, view.range_m))
    return Polygon([(lon, lat), *zip(lons, lats, strict=True)])


def viewshed_metric(
    origin: shapely.Point, view: View, obstacles: shapely.Geometry | None, *, step_deg: float
) -> Polygon:
    """The visible part of the view in a metric CRS: rays cut at the first obstacle they meet."""
    if view.fov_deg >= 360.0 or view.heading_deg is None:
        az = np.arange(0.0, 360.0, step_deg)
        closed = True
    else:
        n = max(2, int(np.ceil(view.fov_deg / step_deg)) + 1)
        az = np.linspace(
            view.heading_deg - view.fov_deg / 2, view.heading_deg + view.fov_deg / 2, n
        )
        closed = False
    rad = np.radians(az)
    x0, y0 = origin.x, origin.y
    ex = x0 + view.range_m * np.sin(rad)
    ey = y0 + view.range_m * np.cos(rad)
    reach = np.full(az.size, view.range_m)
    if obstacles is not None and not obstacles.is_empty:
        rays = shapely.linestrings(
            np.stack(
                [
                    np.column_stack([np.full(az.size, x0), ex]),
                    np.column_stack([np.full(az.size, y0), ey]),
                ],
                axis=-1,
            )
        )
        hits = shapely.intersection(rays, obstacles)
        has = ~shapely.is_empty(hits)
        reach[has] = shapely.distance(origin, hits[has])
    px = x0 + reach * np.sin(rad)
    py = y0 + reach * np.cos(rad)
    if not closed:
        px = np.concatenate([[x0], px])
        py = np.concatenate([[y0], py])
    poly = shapely.polygons(np.column_stack([px, py]))
    if obstacles is not None and not poly.is_valid:
        poly = shapely.make_valid(poly)
        if not isinstance(poly, Polygon):
            parts = [g for g in getattr(poly, "geoms", []) if isinstance(g, Polygon)]
            poly = max(parts, key=lambda g: g.area) if parts else Polygon()
    return poly


def compute_views(
    cameras: list[dict[str, Any]], buildings_wkb: list[bytes]
) -> list[dict[str, Any]]:
    """View polygons (EPSG:4326 MultiPolygons) for camera dicts with ``id``/``lon``/``lat``.

    ``buildings_wkb`` are footprints (EPSG:4326 WKB) near the cameras; they cut the viewsheds.
    """
    if not cameras:
        return []
    lon = np.array([c["lon"] for c in cameras], dtype=float)
    lat = np.array([c["lat"] for c in cameras], dtype=float)
    epsg = metric_crs_for_points(lon, lat)
    fwd = Transformer.from_crs(4326, epsg, always_xy=True)
    inv = Transformer.from_crs(epsg, 4326, always_xy=True)
    mx, my = fwd.transform(lon, lat)
    tree = None
    blds = np.array([], dtype=object)
    if buildings_wkb:
        blds = shapely.transform(
            shapely.from_wkb(buildings_wkb),
            lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])),
        )
        tree = shapely.STRtree(blds)
    out = []
    polys = []
    for i, cam in enumerate(cameras):
        v = view_of(cam)
        origin = shapely.Point(mx[i], my[i])
        obstacles = None
        if tree is not None:
            idx = tree.query(origin, predicate="dwithin", distance=v.range_m)
            near = blds[idx]
            near = near[shapely.distance(near, origin) > MOUNT_TOLERANCE_M] if near.size else near
            if near.size:
                obstacles = shapely.union_all(near)
        polys.append(viewshed_metric(origin, v, obstacles, step_deg=RAY_STEP_DEG))
        out.append(
            {
                "camera_id": cam["id"],
                "heading_deg": v.heading_deg,
                "fov_deg": v.fov_deg,
                "range_m": v.range_m,
                "range_is_default": v.range_is_default,
                "direction_known": v.direction_known,
                "clipped_by_buildings": obstacles is not None,
            }
        )
    # back to lon/lat in one transform call for all polygons
    back = shapely.transform(
        np.array(polys, dtype=object),
        lambda xy: np.column_stack(inv.transform(xy[:, 0], xy[:, 1])),
    )
    for row, poly4326 in zip(out, back, strict=True):
        row["geom"] = poly4326 if isinstance(poly4326, MultiPolygon) else MultiPolygon([poly4326])
    return out


def refresh_camera_views(session: Session, *, camera_ids: list[int] | None = None) -> int:
    """Recompute and store ``camera_views`` for the given cameras (all when ``None``); returns count.

    Called after every camera or building load so that nearest, routing and coverage all read
    the same polygons.
    """
    where = "" if camera_ids is None else "where c.id = any(:ids)"
    params: dict[str, Any] = {} if camera_ids is None else {"ids": list(camera_ids)}
    rows = (
        session.execute(
            text(f"""
        select c.id, c.purpose, c.camera_type, c.heading_deg, c.fov_deg, c.range_m, c.ptz,
               st_x(c.geom) as lon, st_y(c.geom) as lat
        from cameras c {where} order by c.id"""),
            params,
        )
        .mappings()
        .all()
    )
    cams = [dict(r) for r in rows]
    if camera_ids is None:
        session.execute(text("delete from camera_views"))
    elif cams:
        session.execute(text("delete from camera_views where camera_id = any(:ids)"), params)
    if not cams:
        return 0
    # buildings near any camera (within the largest range) in one query
    max_r = max(float(view_of(c).range_m) for c in cams)
    blds = (
        session.execute(
            text("""
        select distinct on (b.id) st_asbinary(b.geom)
        from buildings b join cameras c on st_dwithin(b.geom::geography, c.geom::geography, :r)
        where c.id = any(:ids)"""),
            {"r": max_r, "ids": [c["id"] for c in cams]},
        )
        .scalars()
        .all()
    )
    chunk = 2000
    n = 0
    for start in range(0, len(cams), chunk):
        views = compute_views(cams[start : start + chunk], [bytes(b) for b in blds])
        session.execute(
            text("""
            insert into camera_views (camera_id, heading_deg, fov_deg, range_m, range_is_default,
                                      direction_known, clipped_by_buildings, geom)
            values (:camera_id, :heading_deg, :fov_deg, :range_m, :range_is_default,
                    :direction_known, :clipped_by_buildings, st_geomfromwkb(:wkb, 4326))"""),
            [
                {**{k: v for k, v in r.items() if k != "geom"}, "wkb": shapely.to_wkb(r["geom"])}
                for r in views
            ],
        )
        n += len(views)
    return n


def lines_of_sight_plan(
    *, camera_ids: list[int], lon: float, lat: float, search_m: float = 1000.0
) -> Plan[dict[int, bool | None]]:
    """:func:`lines_of_sight` as a plan (:mod:`geo.db`), for the sync and the async driver."""
    if not camera_ids:
        return {}
    pt = "st_setsrid(st_makepoint(:lon, :lat), 4326)"
    known = yield (
        text(
            f"select exists(select 1 from buildings where st_dwithin(geom::geography, {pt}::geography, :r)) as known"
        ),
        {"lon": lon, "lat": lat, "r": search_m},
    )
    if not known[0]["known"]:
        return {i: None for i in camera_ids}
    rows = yield (
        text(f"""
        select c.id, not exists (
            select 1 from buildings b
            where st_intersects(b.geom, st_makeline(c.geom, {pt}))
              and not st_dwithin(b.geom::geography, c.geom::geography, :mount)
              and not st_contains(b.geom, {pt})
        ) as clear
        from cameras c where c.id = any(:ids)"""),
        {"lon": lon, "lat": lat, "ids": list(camera_ids), "mount": MOUNT_TOLERANCE_M},
    )
    return {int(r["id"]): bool(r["clear"]) for r in rows}


def lines_of_sight(
    session: Session, *, camera_ids: list[int], lon: float, lat: float, search_m: float = 1000.0
) -> dict[int, bool | None]:
    """Whether a building footprint blocks the straight line from each camera to a point.

    ``None`` for every camera when no footprints are loaded within ``search_m`` of the point
    (nothing is known). The camera's mount (footprints within 2 m of it) and a footprint that
    contains the point itself (a geocoded address) do not block.
    """
    return run_plan(
        session,
        lines_of_sight_plan(camera_ids=camera_ids, lon=lon, lat=lat, search_m=search_m),
    )
