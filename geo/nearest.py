"""The k best cameras for a point: who can see it, who can turn to it, who is merely near.

One query does the work that must be fast: the GiST KNN operator ``<->`` on ``geom::geography``
(index ``ix_cameras_geog``) fetches a candidate set of the nearest cameras. KNN on geography
orders by *sphere* distance, which differs from the WGS84 ellipsoid by up to ~0.3 %, enough to
swap neighbours a few metres apart; so the candidates are re-measured with :data:`geo.views.GEOD`
(geodesic metres and bearing, vectorised) and re-sorted. Plain ``<->`` on ``geometry`` would order
by degrees and is wrong at Korean latitudes (see ``/work/shared/DESIGN.md``).

Whether a camera sees the point comes from the one view model (:mod:`geo.views`): heading, field
of view and range with their documented defaults, the pan a PTZ camera needs, and building
footprints blocking the sight line. Distances along roads come from the one road-distance engine
(:func:`geo.routing.road_distances_m`, DESIGN decision 9): the in-memory graph, the routes'
snapping rule, one one-to-many search per request, only when roads are loaded near the point.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.bbox import check_lat_lon
from geo.cameras import CAMERA_FIELDS
from geo.db import BINARY_ROWS, AsyncReader, Plan, arun_plan, database_url, run_plan
from geo.errors import InvalidInput
from geo.routing import (
    MAX_SNAP_M,
    RoadGraph,
    cached_graph,
    deg_box,
    get_graph,
    graph_for_url,
    road_distances_m,
    url_key,
)
from geo.views import (
    DORI_RANK,
    bearing_and_distance,
    dori_for,
    in_view,
    lines_of_sight_plan,
    pan_deg,
    view_of,
)

#: Largest ``k`` a caller may ask for.
MAX_K = 50
#: Largest candidate set fetched by KNN before re-ranking.
MAX_CANDIDATES = 200
#: Buildings within this distance of the point make ``line_of_sight`` known (else ``None``).
BUILDING_SEARCH_M = 1000.0
#: A point or camera farther than this from every usable road is not snapped to the network:
#: the routes' one snapping rule (:data:`geo.routing.MAX_SNAP_M`).
ROAD_SNAP_M = MAX_SNAP_M

#: Ranking groups, best first: sees the point, PTZ that can turn to it, merely near.
GROUPS = ("sees", "ptz", "near")

_COLS = ", ".join(f"c.{f}" for f in CAMERA_FIELDS)

# One round trip: the KNN candidates plus whether buildings / roads exist around the point
# (bounding-box tests on the geometry GiST indexes, so the common case needs no second query).
# No CTE for the point: a materialised CTE hides the constant from the planner and turns the
# KNN index scan into a sequential scan plus sort.
_KNN_BASE = f"""
select {_COLS}, st_x(c.geom) as lon, st_y(c.geom) as lat, {{order}} as knn_d,
       exists(select 1 from buildings b
              where b.geom && st_makeenvelope(:bx0, :by0, :bx1, :by1, 4326)) as has_buildings,
       exists(select 1 from road_edges e
              where e.geom && st_makeenvelope(:rx0, :ry0, :rx1, :ry1, 4326)) as has_roads,
       (select coalesce(max(id), 0) from data_loads) as load_version
from cameras c
{{where}}
order by knn_d
limit :n
"""
_GEOG_ORDER = "c.geom::geography <-> st_setsrid(st_makepoint(:lon, :lat), 4326)::geography"
_DEG_ORDER = "c.geom <-> st_setsrid(st_makepoint(:lon, :lat), 4326)"
#: Rows of the KNN statements in binary format on the API's reader (geo.db.BINARY_ROWS): the
#: same values, about 40 us less CPU per request for the 38 x 26 candidate cells.
_BINARY = {BINARY_ROWS: True}
#: KNN on geography (index ``ix_cameras_geog``): sphere metres, a GiST recheck per row.
_KNN_SQL = text(_KNN_BASE.format(order=_GEOG_ORDER, where="")).execution_options(**_BINARY)
#: KNN on the plain geometry index in degrees: about half the database CPU of the geography
#: scan, made exact by the bound in :func:`_degree_fetch_is_complete` (else the geography query).
_KNN_DEG_SQL = text(_KNN_BASE.format(order=_DEG_ORDER, where="")).execution_options(**_BINARY)
# A separate statement with the distance limit: an ``OR :maxd is null`` would keep the index
# from bounding the scan, and KNN would then walk the whole index when few cameras are in range.
_KNN_WITHIN_SQL = text(
    _KNN_BASE.format(
        order=_GEOG_ORDER,
        where="where st_dwithin(c.geom::geography, "
        "st_setsrid(st_makepoint(:lon, :lat), 4326)::geography, :maxd)",
    )
).execution_options(**_BINARY)
#: The degree KNN fetches this many times ``n / cos(lat)`` rows (degrees of longitude are
#: shorter than degrees of latitude); the bound then rarely fails (``benchmarks/nearest.py``).
DEGREE_OVERFETCH = 1.5
#: The smallest meridional radius of curvature of WGS84, a(1 - e^2) (metres, at the equator):
#: no path covers a latitude change of dphi radians in fewer than ``M_MIN * dphi`` metres.
M_MIN_M = 6_335_439.0


def _degree_fetch_is_complete(
    *, lat: float, lon: float, fetched: int, asked: int, last_deg: float, nth_m: float
) -> bool:
    """Whether a KNN fetch in degrees surely holds every camera within ``nth_m`` metres.

    On the ellipsoid ds^2 = M^2 dphi^2 + N^2 cos^2(phi) dlambda^2 with M >= M_MIN and N >= M_MIN.
    A camera within ``nth_m`` of the point lies in the latitude band |phi - lat| <= nth_m / M_MIN,
    where cos(phi) >= c; integrating, its geodesic distance is at least M_MIN * c * (its planar
    distance in radians). Every camera not fetched is at least ``last_deg`` away in degrees, so
    if M_MIN * c * radians(last_deg) exceeds ``nth_m`` none of them can be among the nearest.
    """
    if fetched < asked:
        return True  # the whole table was fetched
    if abs(lon) + last_deg >= 180.0:
        return False  # the antimeridian: planar degrees are no bound there
    band_deg = math.degrees(nth_m / M_MIN_M) + 1e-3
    phi_max = abs(lat) + band_deg
    if phi_max >= 89.0:
        return False
    c = math.cos(math.radians(phi_max))
    return M_MIN_M * c * math.radians(last_deg) * (1.0 - 1e-9) > nth_m


_BRUTE_SQL = text(f"""
select {_COLS}, st_x(c.geom) as lon, st_y(c.geom) as lat,
       st_distance(c.geom::geography, st_setsrid(st_makepoint(:lon, :lat), 4326)::geography)
           as distance_m
from cameras c
order by distance_m, c.id
limit :n
""")


def _envelope(lon: float, lat: float, r_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box that contains the circle of ``r_m`` metres around the point."""
    return deg_box(lon, lat, r_m)


def _check(
    *, lat: float, lon: float, k: int, max_distance_m: float | None, candidates: int | None
) -> int:
    """Validate the inputs (naming the bad field) and return the candidate-set size."""
    for name, v in (("lat", lat), ("lon", lon)):
        if v is None or not math.isfinite(float(v)):
            raise InvalidInput(f"{name} must be a finite number, got {v!r}", field=name)
    check_lat_lon(lat, lon)
    if not isinstance(k, int | np.integer) or not 1 <= int(k) <= MAX_K:
        raise InvalidInput(f"k must be an integer within 1..{MAX_K}, got {k!r}", field="k")
    if max_distance_m is not None and (
        not math.isfinite(float(max_distance_m)) or max_distance_m < 0
    ):
        raise InvalidInput(
            f"max_distance_m must be a non-negative number of metres, got {max_distance_m!r}",
            field="max_distance_m",
        )
    if candidates is None:
        return max(int(k), min(4 * int(k), MAX_K), 20)
    if not isinstance(candidates, int | np.integer) or not k <= candidates <= MAX_CANDIDATES:
        raise InvalidInput(
            f"candidates must be an integer within k..{MAX_CANDIDATES}, got {candidates!r}",
            field="candidates",
        )
    return int(candidates)


def knn_candidates_plan(
    *,
    lat: float,
    lon: float,
    n: int = 20,
    max_distance_m: float | None = None,
) -> Plan[tuple[list[dict[str, Any]], bool, bool]]:
    """:func:`knn_candidates` as a plan (:mod:`geo.db`): usually one round trip."""
    cams, has_b, has_r, _ = yield from _knn_plan(
        lat=lat, lon=lon, n=n, max_distance_m=max_distance_m
    )
    return cams, has_b, has_r


def _knn_plan(
    *,
    lat: float,
    lon: float,
    n: int = 20,
    max_distance_m: float | None = None,
) -> Plan[tuple[list[dict[str, Any]], bool, bool, int]]:
    """The KNN candidates, whether buildings / roads are near, and the load counter (the road
    graph's version), in usually one round trip.

    Without a distance limit it asks the geometry index for the nearest cameras in degrees,
    over-fetching by 1/cos(lat) (anisotropy of degrees) and keeping the ``n`` nearest by the
    geodesic; :func:`_degree_fetch_is_complete` proves no other camera could be nearer, else
    (rare: clustered cameras, poles, antimeridian) it asks the geography index instead.
    """
    bx = _envelope(lon, lat, BUILDING_SEARCH_M)
    rx = _envelope(lon, lat, ROAD_SNAP_M)
    params: dict[str, Any] = {
        "lon": lon,
        "lat": lat,
        "maxd": max_distance_m,
        "n": n,
        "bx0": bx[0],
        "by0": bx[1],
        "bx1": bx[2],
        "by1": bx[3],
        "rx0": rx[0],
        "ry0": rx[1],
        "rx1": rx[2],
        "ry1": rx[3],
    }
    cams: list[dict[str, Any]] | None = None
    if max_distance_m is None:
        m = math.ceil(DEGREE_OVERFETCH * n / max(math.cos(math.radians(lat)), 0.1))
        rows = yield (_KNN_DEG_SQL, {**params, "n": m})
        cams = _measured(rows, lat=lat, lon=lon, keep=n)
        if cams and not _degree_fetch_is_complete(
            lat=lat,
            lon=lon,
            fetched=len(rows),
            asked=m,
            last_deg=float(rows[-1]["knn_d"]),
            nth_m=cams[min(n, len(cams)) - 1]["distance_m"],
        ):
            cams = None
    if cams is None:
        rows = yield (_KNN_SQL if max_distance_m is None else _KNN_WITHIN_SQL, params)
        cams = _measured(rows, lat=lat, lon=lon, keep=n)
    if not rows:
        return [], False, False, 0
    has_b = bool(rows[0]["has_buildings"])
    has_r = bool(rows[0]["has_roads"])
    cams = cams[:n]
    if max_distance_m is not None:
        cams = [c for c in cams if c["distance_m"] <= max_distance_m]
    return cams, has_b, has_r, int(rows[0]["load_version"])


def _measured(
    rows: Sequence[Any], *, lat: float, lon: float, keep: int | None = None
) -> list[dict[str, Any]]:
    """Candidate rows as dicts with geodesic ``distance_m`` and ``bearing_deg`` (camera to
    point), sorted by ``(distance_m, id)``; only the first ``keep`` are built."""
    if not rows:
        return []
    clon = np.fromiter((r["lon"] for r in rows), dtype=float, count=len(rows))
    clat = np.fromiter((r["lat"] for r in rows), dtype=float, count=len(rows))
    bearing, dist = bearing_and_distance(
        clon, clat, np.full(clon.size, lon), np.full(clon.size, lat)
    )
    dists = dist.tolist()
    bearings = bearing.tolist()
    order = sorted(range(len(rows)), key=lambda i: (dists[i], rows[i]["id"]))
    cams = []
    for i in order[:keep]:
        c = dict(rows[i])
        del c["has_buildings"], c["has_roads"], c["knn_d"], c["load_version"]
        d = dists[i]
        c["distance_m"] = d
        # a camera exactly at the point has no bearing to it
        c["bearing_deg"] = None if d < 1e-6 or math.isnan(bearings[i]) else bearings[i]
        cams.append(c)
    return cams


def knn_candidates(
    session: Session,
    *,
    lat: float,
    lon: float,
    n: int = 20,
    max_distance_m: float | None = None,
) -> tuple[list[dict[str, Any]], bool, bool]:
    """The ``n`` nearest cameras by KNN on geography, re-measured geodesically and re-sorted.

    Returns ``(cameras, has_buildings, has_roads)``: camera dicts (the registry fields, ``lon``,
    ``lat``, ``distance_m`` and ``bearing_deg`` from camera to point) ordered by ``(distance_m,
    id)``, and whether building footprints / road nodes exist around the point.
    """
    return run_plan(
        session, knn_candidates_plan(lat=lat, lon=lon, n=n, max_distance_m=max_distance_m)
    )


def brute_force_nearest(
    session: Session, *, lat: float, lon: float, k: int
) -> list[dict[str, Any]]:
    """Reference answer: every camera measured with ``ST_Distance(geography)``, sorted (slow).

    Used by the tests and the benchmark as the baseline KNN must agree with.
    """
    rows = session.execute(_BRUTE_SQL, {"lon": lon, "lat": lat, "n": k}).mappings().all()
    return [dict(r) for r in rows]


def camera_road_distances(
    g: RoadGraph, *, lat: float, lon: float, cameras: list[dict[str, Any]]
) -> dict[int, float | None]:
    """Walking distance in metres along the roads from the point to each camera (by id).

    One one-to-many call on the routing engine (:func:`geo.routing.road_distances_m`), with
    the routes' snapping rule: each place snaps to the nearest usable edge within
    :data:`ROAD_SNAP_M` at its position along it (a virtual node), and the snap offsets are
    added, so a distance is the length of :func:`geo.routing.find_route`'s walking route between
    the same two places plus both offsets. The earlier rule here (nearest road *node* within
    300 m, pgr_dijkstra per request) overshot by up to half an edge at each end and disagreed
    with the routes; ``tests/test_one_engine.py`` checks the ranking against ``find_route`` and
    against pgr_dijkstra between the same snapped positions. ``None`` for cameras that cannot
    be snapped or reached.
    """
    pts = [(float(c["lon"]), float(c["lat"])) for c in cameras]
    dists = road_distances_m(g, lon=lon, lat=lat, points=pts) if pts else []
    return {int(c["id"]): d for c, d in zip(cameras, dists, strict=True)}


def network_distances(
    session: Session, *, lat: float, lon: float, cameras: list[dict[str, Any]]
) -> dict[int, float | None]:
    """:func:`camera_road_distances` on this database's road graph (``None`` without roads)."""
    if not cameras:
        return {}
    has_roads = session.execute(text("select exists(select 1 from road_edges)")).scalar_one()
    if not has_roads:
        return {int(c["id"]): None for c in cameras}
    return camera_road_distances(get_graph(session), lat=lat, lon=lon, cameras=cameras)


def _reason(c: dict[str, Any], tier: int) -> str:
    """Why a camera was chosen, in words an operator reads at a glance."""
    d = f"{c['distance_m']:.0f} m"
    if tier == 0:
        return f"sees the point (in view, {d})"
    if tier == 1:
        if c["pan_deg"] is None:
            return f"PTZ within range, can turn to the point ({d})"
        return f"nearest PTZ within range, must pan {c['pan_deg']:.0f}° ({d})"
    why: list[str] = []
    if c["line_of_sight"] is False:
        why.append("a building blocks the line of sight")
    if not c["direction_known"]:
        why.append("direction unknown")
    if c["distance_m"] > c["view_range_m"]:
        default = " default" if c["view_range_is_default"] else ""
        why.append(f"beyond its {c['view_range_m']:.0f} m{default} range")
    elif c["in_view"] is False and c["line_of_sight"] is not False:
        why.append("facing away, cannot pan")
    return f"nearest, {', '.join(why)} ({d})" if why else f"nearest ({d})"


def nearest_cameras_plan(
    *,
    lat: float,
    lon: float,
    k: int = 5,
    max_distance_m: float | None = None,
    candidates: int | None = None,
) -> Plan[tuple[list[dict[str, Any]], int | None]]:
    """:func:`nearest_cameras` as a plan (:mod:`geo.db`): the one ranking, for both drivers.

    Returns the ranked cameras (``network_distance_m`` still ``None``) and the road graph
    version to measure them on (``None`` when no road is near the point); the drivers fill in
    the road distances from the in-memory engine (:func:`camera_road_distances`).
    """
    n = _check(lat=lat, lon=lon, k=k, max_distance_m=max_distance_m, candidates=candidates)
    lat, lon = float(lat), float(lon)
    cams, has_b, has_r, version = yield from _knn_plan(
        lat=lat, lon=lon, n=n, max_distance_m=max_distance_m
    )
    if not cams:
        return [], None
    views = [view_of(c) for c in cams]
    dist = np.array([c["distance_m"] for c in cams])
    bearing = np.array([np.nan if c["bearing_deg"] is None else c["bearing_deg"] for c in cams])
    seen = in_view(
        heading_deg=np.array([np.nan if v.heading_deg is None else v.heading_deg for v in views]),
        fov_deg=np.array([v.fov_deg for v in views]),
        range_m=np.array([v.range_m for v in views]),
        direction_known=np.array([v.direction_known for v in views]),
        distance_m=dist,
        bearing_deg=np.nan_to_num(bearing),
    )
    dori = dori_for(cams, dist)  # from the candidate rows: no query
    los: dict[int, bool | None] = {}
    if has_b:
        los = yield from lines_of_sight_plan(
            camera_ids=[int(c["id"]) for c in cams],
            lon=lon,
            lat=lat,
            search_m=BUILDING_SEARCH_M,
        )
    for c, v, s, q in zip(cams, views, seen.tolist(), dori, strict=True):
        c.update(q)
        at_point = c["bearing_deg"] is None
        if at_point:
            c["in_view"] = c["distance_m"] <= v.range_m
        else:
            c["in_view"] = None if s is None else bool(s)  # plain bool, not numpy.bool_
        if c["in_view"] is True:
            c["pan_deg"] = 0.0
        elif v.can_pan and not at_point:
            c["pan_deg"] = pan_deg(
                heading_deg=v.heading_deg, fov_deg=v.fov_deg, bearing_deg=c["bearing_deg"]
            )
        else:
            c["pan_deg"] = None
        c["line_of_sight"] = los.get(int(c["id"])) if has_b else None
        c["view_heading_deg"] = v.heading_deg
        c["view_fov_deg"] = v.fov_deg
        c["view_range_m"] = v.range_m
        c["view_range_is_default"] = v.range_is_default
        c["direction_known"] = v.direction_known
        c["can_pan"] = v.can_pan

    def tier(c: dict[str, Any]) -> int:
        if c["line_of_sight"] is False:
            return 2
        if c["in_view"] is True:
            return 0
        if c["can_pan"] and c["distance_m"] <= c["view_range_m"]:
            return 1
        return 2

    tiers = {int(c["id"]): tier(c) for c in cams}

    def quality(c: dict[str, Any]) -> int:
        # among cameras that see (or can turn to) the point, a better DORI level comes first
        return -DORI_RANK[c["dori_level"]] if tiers[int(c["id"])] < 2 else 0

    cams.sort(key=lambda c: (tiers[int(c["id"])], quality(c), c["distance_m"], c["id"]))
    best = cams[:k]
    for i, c in enumerate(best, start=1):
        c["group"] = GROUPS[tiers[int(c["id"])]]
        c["reason"] = _reason(c, tiers[int(c["id"])])
        c["rank"] = i
        c["network_distance_m"] = None
    return best, (version if has_r else None)


def _with_road_distances(
    best: list[dict[str, Any]], g: RoadGraph, *, lat: float, lon: float
) -> list[dict[str, Any]]:
    net = camera_road_distances(g, lat=float(lat), lon=float(lon), cameras=best)
    for c in best:
        c["network_distance_m"] = net.get(int(c["id"]))
    return best


def nearest_cameras(
    session: Session,
    *,
    lat: float,
    lon: float,
    k: int = 5,
    max_distance_m: float | None = None,
    candidates: int | None = None,
) -> list[dict[str, Any]]:
    """The ``k`` best cameras for a point, best first, each with the reason it was chosen.

    Ranking: cameras that see the point (``in_view`` true, ``line_of_sight`` not false), then PTZ
    cameras within range that can turn to it, then the nearest; within the first two groups the
    better DORI level first (identify beats detect; unknown ranks with detect), then by distance.
    Each dict holds the registry fields, ``lon``/``lat``, ``distance_m`` (geodesic),
    ``bearing_deg`` (camera to point, clockwise from north), ``in_view`` (``None`` when the
    direction is unknown), ``pan_deg`` (PTZ turn needed; 0 when in view; ``None`` for a fixed
    camera not in view), ``line_of_sight`` (``None`` without buildings nearby),
    ``network_distance_m`` (``None`` without roads), the effective view (``view_heading_deg``,
    ``view_fov_deg``, ``view_range_m``, ``view_range_is_default``, ``direction_known``,
    ``can_pan``), ``rank``, ``group`` (one of :data:`GROUPS`) and ``reason``, and the image
    quality at the point (:func:`geo.views.dori_for`): ``dori_px_per_m``, ``dori_level``
    (detect / observe / recognise / identify / below_detect; ``None`` when the resolution is
    unknown) and ``dori_note`` (what was assumed, or "resolution unknown").

    ``candidates`` is how many nearest cameras KNN fetches before ranking (default
    ``max(20, min(4k, 50))``); ``max_distance_m`` drops cameras farther than that.
    """
    best, version = run_plan(
        session,
        nearest_cameras_plan(
            lat=lat, lon=lon, k=k, max_distance_m=max_distance_m, candidates=candidates
        ),
    )
    if version is None or not best:
        return best
    return _with_road_distances(best, get_graph(session, version=version), lat=lat, lon=lon)


async def nearest_cameras_async(
    reader: AsyncReader,
    *,
    lat: float,
    lon: float,
    k: int = 5,
    max_distance_m: float | None = None,
    candidates: int | None = None,
    db_url: str | None = None,
) -> list[dict[str, Any]]:
    """:func:`nearest_cameras` on an :class:`~geo.db.AsyncReader` (the API's event loop).

    The road distances come from the in-memory graph of ``db_url`` (default: the service's
    database): no thread hop when it is built (a stale one answers while a background thread
    rebuilds it); the first request of a process builds it in a worker thread.
    """
    best, version = await arun_plan(
        reader,
        nearest_cameras_plan(
            lat=lat, lon=lon, k=k, max_distance_m=max_distance_m, candidates=candidates
        ),
    )
    if version is None or not best:
        return best
    g = await _graph_async(reader, version=version, db_url=db_url)
    # one snap per camera and one bounded search: well under a millisecond on a city graph
    return _with_road_distances(best, g, lat=lat, lon=lon)


async def _graph_async(reader: AsyncReader, *, version: int, db_url: str | None) -> RoadGraph:
    """The road graph for the reader's database, never waiting for a rebuild."""
    session = getattr(reader, "session", None)  # geo.db.SessionReader: the tests' transaction
    if isinstance(session, Session):
        return get_graph(session, version=version)
    url = db_url or database_url()
    g = cached_graph(url_key(url), version=version)
    if g is None:
        g = await asyncio.to_thread(graph_for_url, url)
    return g
