"""The one snapping rule: a place is put on the nearest usable edge, at its position along it.

A point (a scene, a camera, a sighting) snaps to the nearest edge usable for the mode within
:data:`MAX_SNAP_M`, measured in metres in a local frame (:func:`local_m_per_deg`). The search
then starts from a *virtual node* at that position: its arcs to the edge's two ends cost the
part of the edge between (one arc only on a one-way street driven). Snapping to the nearest
*node* instead (pgRouting's usual recipe) adds up to half an edge at each end and can pick the
wrong side of a block; the tests compare both with pgRouting on node pairs, where they agree.

The metres-per-degree constants live here, once, for every module that converts degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from shapely import Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from geo.routing.graph import RoadGraph

MAX_SNAP_M = 500.0  # a point farther than this from every usable road is refused
AT_NODE_M = 0.5  # a snapped point this close to an edge end stands on that node
#: Metres per degree of latitude at the equator: the smallest on WGS84, so ``r / M_PER_DEG_LAT``
#: degrees always cover ``r`` metres north-south.
M_PER_DEG_LAT = 110_574.0
#: Metres per degree of longitude at the equator; times cos(lat) it is at most the true value,
#: so boxes built with it always cover the circle.
M_PER_DEG_LON_EQ = 111_320.0
EARTH_RADIUS_M = 6_371_008.8  # mean radius (haversine estimates only)
_ORIGIN = Point(0.0, 0.0)  # the snapped point in its local frame (immutable, shared)


def local_m_per_deg(lon0: float, lat0: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude around ``lat0`` (local planar frame)."""
    return M_PER_DEG_LON_EQ * math.cos(math.radians(lat0)), M_PER_DEG_LAT


def deg_box(lon: float, lat: float, r_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box that contains the circle of ``r_m`` metres around the point."""
    dlat = r_m / M_PER_DEG_LAT
    dlon = r_m / (M_PER_DEG_LON_EQ * max(math.cos(math.radians(lat)), 0.01))
    return lon - dlon, max(lat - dlat, -90.0), lon + dlon, min(lat + dlat, 90.0)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle metres (a search radius estimate, not a measurement)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


@dataclass
class Snap:
    """A point placed on the road network: which edge, how far along it, how far off it."""

    lon: float
    lat: float
    edge: int  # edge index
    frac: float  # 0 at source, 1 at target
    offset_m: float  # distance from the given point to the road
    field: str
    camera_id: int | None = None


def snap(
    g: RoadGraph, *, lon: float, lat: float, mode: str, field: str, max_m: float = MAX_SNAP_M
) -> Snap:
    """Nearest usable edge for ``mode`` within ``max_m`` metres (measured locally in metres)."""
    check_point(lon, lat, field)
    mg = g.modes[mode]
    kx, ky = local_m_per_deg(lon, lat)
    if mg.snap_grid is not None:
        from geo.routing.kernel import snap_point

        e, frac, d = snap_point(  # type: ignore[call-arg]
            lon, lat, kx, ky, max_m, *mg.snap_grid, g.xy_flat, g.xy_ptr
        )
        if e >= 0:
            return Snap(lon, lat, int(e), float(frac), float(d), field)
    # no grid (a graph made by hand), or nothing near: the shapely search (its refusal text)

    def to_m(c: np.ndarray) -> np.ndarray:
        return np.column_stack([(c[:, 0] - lon) * kx, (c[:, 1] - lat) * ky])

    origin = _ORIGIN
    radius = min(40.0, max_m)
    while True:  # growing boxes: few candidates near roads, still exact up to max_m
        dx, dy = radius / kx, radius / ky
        cand = mg.tree.query(shapely.box(lon - dx, lat - dy, lon + dx, lat + dy))
        if len(cand):
            geoms = shapely.transform(g.geoms[mg.tree_idx[cand]], to_m)
            d = shapely.distance(geoms, origin)
            best = int(np.argmin(d))
            if d[best] <= radius:  # nothing outside the box can be nearer
                break
        if radius >= max_m:
            if len(cand) == 0:
                raise InvalidInput(
                    f"{field} is more than {max_m:.0f} m from any road usable for {mode}",
                    field=field,
                )
            raise InvalidInput(
                f"{field} is {d[best]:.0f} m from the nearest road usable for {mode} "
                f"(more than {max_m:.0f} m)",
                field=field,
            )
        radius = min(radius * 4, max_m)
    frac = float(shapely.line_locate_point(geoms[best], origin, normalized=True))
    return Snap(lon, lat, int(mg.tree_idx[cand[best]]), frac, float(d[best]), field)


def edge_cost(g: RoadGraph, mode: str, e: int) -> float:
    """Nominal seconds to traverse edge ``e`` in ``mode`` (the arc weight of the graph)."""
    from geo.routing.speeds import WALK_SPEED_KPH

    v = WALK_SPEED_KPH if mode == "walk" else g.speed_kph[e]
    return float(g.length_m[e] / (v / 3.6))


def snap_ends(g: RoadGraph, s: Snap, *, mode: str, leaving: bool) -> list[tuple[int, float]]:
    """The virtual node's arcs: ``(node, seconds)`` from the snapped point to the edge ends it
    may leave by (``leaving``), or from the ends it may arrive by (else). A point within
    :data:`AT_NODE_M` of an end stands on that node, whatever the one-way."""
    mg = g.modes[mode]
    e, f = s.edge, s.frac
    c, length = edge_cost(g, mode, e), g.length_m[e]
    src, dst = int(g.src[e]), int(g.dst[e])
    # leaving: forward reaches dst, backward reaches src; arriving: the mirror
    to_dst, to_src = (mg.fwd_ok[e], mg.bwd_ok[e]) if leaving else (mg.bwd_ok[e], mg.fwd_ok[e])
    out: list[tuple[int, float]] = []
    if to_dst or (1 - f) * length <= AT_NODE_M:
        out.append((dst, (1 - f) * c))
    if to_src or f * length <= AT_NODE_M:
        out.append((src, f * c))
    return out


def snap_dict(s: Snap) -> dict[str, Any]:
    """A snapped place as JSON: where it was and how far off the road."""
    out: dict[str, Any] = {"lon": s.lon, "lat": s.lat, "snap_distance_m": round(s.offset_m, 1)}
    if s.camera_id is not None:
        out["camera_id"] = s.camera_id
    return out


@dataclass
class Place:
    """A ``from``/``to``: a point or a camera."""

    lon: float | None = None
    lat: float | None = None
    camera_id: int | None = None


def camera_point(session: Session, camera_id: int, *, field: str) -> tuple[float, float]:
    """(lon, lat) of a camera; NotFound naming it."""
    row = session.execute(
        text("select st_x(geom), st_y(geom) from cameras where id = :i"), {"i": int(camera_id)}
    ).first()
    if row is None:
        raise NotFound(f"camera {camera_id} does not exist", field=field, camera_id=camera_id)
    return float(row[0]), float(row[1])


@dataclass
class PlacePoint:
    """A place resolved to a checked point (a camera's position for a camera), not yet snapped:
    ``field`` names it in refusals, ``kx`` is metres per degree of longitude there."""

    lon: float
    lat: float
    kx: float
    field: str
    camera_id: int | None = None

    def snap(self, g: RoadGraph, mode: str) -> Snap:
        """:func:`snap` of this point (raises as it does)."""
        s = snap(g, lon=self.lon, lat=self.lat, mode=mode, field=self.field)
        s.camera_id = self.camera_id
        return s


def check_point(lon: float, lat: float, field: str) -> None:
    """InvalidInput naming ``field`` unless (lon, lat) is a finite WGS84 coordinate."""
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"{field} is not a valid WGS84 coordinate", field=field)


def place_point(session: Session, place: Place, *, field: str) -> PlacePoint:
    """The point of a place (a camera's from the database), checked as :func:`snap` checks."""
    if place.camera_id is not None:
        name = f"{field}.camera_id"
        lon, lat = camera_point(session, place.camera_id, field=name)
        check_point(lon, lat, name)
        return PlacePoint(lon, lat, local_m_per_deg(lon, lat)[0], name, int(place.camera_id))
    if place.lon is None or place.lat is None:
        raise InvalidInput(f"{field} needs lat and lon, or camera_id", field=field)
    lon, lat = float(place.lon), float(place.lat)
    check_point(lon, lat, field)
    return PlacePoint(lon, lat, local_m_per_deg(lon, lat)[0], field)


def place_snap(session: Session, g: RoadGraph, place: Place, *, mode: str, field: str) -> Snap:
    """Snap a point or camera to the network for ``mode``."""
    if place.camera_id is not None:
        lon, lat = camera_point(session, place.camera_id, field=f"{field}.camera_id")
        s = snap(g, lon=lon, lat=lat, mode=mode, field=f"{field}.camera_id")
        s.camera_id = int(place.camera_id)
        return s
    if place.lon is None or place.lat is None:
        raise InvalidInput(f"{field} needs lat and lon, or camera_id", field=field)
    return snap(g, lon=float(place.lon), lat=float(place.lat), mode=mode, field=field)
