"""Road distances from one place to many: the nearest-camera ranking's ``network_distance_m``.

The same engine, snapping rule and speed model as routes (:func:`geo.routing.routes.route`):
each place snaps to its nearest usable edge (:data:`geo.routing.snap.MAX_SNAP_M`), one
one-to-many search (:func:`geo.routing.search.one_to_many`) runs on the walking graph, and a
distance is ``offset at the origin + metres along roads + offset at the target``: the length of
the walking route :func:`geo.routing.routes.find_route` returns between the same two places plus
both snap distances (so it is never shorter than the straight line).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import numpy as np

from geo.errors import InvalidInput
from geo.routing import search
from geo.routing.graph import RoadGraph
from geo.routing.routes import direct_cost, first_radius_s
from geo.routing.snap import Snap, snap, snap_ends
from geo.routing.speeds import WALK_SPEED_KPH

#: Mode of the ranking's road distances: on foot, every road but motorways, both ways.
DISTANCE_MODE = "walk"
#: Snapped cameras kept per graph (cameras do not move between loads; a new graph starts empty).
SNAP_CACHE_SIZE = 50_000

_snap_lock = threading.Lock()
_snaps: dict[tuple[int, float, float], Snap | None] = {}  # (graph serial, lon, lat) -> snap


def _snap_target(g: RoadGraph, lon: float, lat: float) -> Snap | None:
    """A target place snapped (``None``: too far from a usable road), memoised per graph."""
    key = (g.serial, lon, lat)
    hit = _snaps.get(key, False)
    if hit is not False:
        return hit  # type: ignore[return-value]
    try:
        s: Snap | None = snap(g, lon=lon, lat=lat, mode=DISTANCE_MODE, field="target")
    except InvalidInput:
        s = None
    with _snap_lock:
        if len(_snaps) >= SNAP_CACHE_SIZE:
            _snaps.clear()
        _snaps[key] = s
    return s


def road_distances_m(
    g: RoadGraph, *, lon: float, lat: float, points: Sequence[tuple[float, float]]
) -> list[float | None]:
    """Walking distance in metres from (``lon``, ``lat``) to each ``(lon, lat)`` in ``points``
    along the roads, both snap offsets included; ``None`` where a place does not snap (farther
    than MAX_SNAP_M from a usable road) or no path exists."""
    mode = DISTANCE_MODE
    out: list[float | None] = [None] * len(points)
    try:
        a = snap(g, lon=lon, lat=lat, mode=mode, field="origin")
    except InvalidInput:
        return out
    snaps: list[tuple[int, Snap]] = []
    for i, (x, y) in enumerate(points):
        b = _snap_target(g, float(x), float(y))
        if b is not None:
            snaps.append((i, b))
    if not snaps:
        return out
    mg = g.modes[mode]
    sources = snap_ends(g, a, mode=mode, leaving=True)
    targets = [snap_ends(g, b, mode=mode, leaving=False) for _, b in snaps]
    # a radius for the whole detour to the farthest target (first_radius_s is half of it)
    r0 = 2.0 * max(first_radius_s(g, mode, a, b) for _, b in snaps)
    cost_s = search.one_to_many(mg, sources, targets, r0=r0)
    m_per_s = WALK_SPEED_KPH / 3.6
    for (i, b), c in zip(snaps, cost_s.tolist(), strict=True):
        c = min(c, direct_cost(g, mode, a, b))
        if math.isfinite(c):
            out[i] = a.offset_m + c * m_per_s + b.offset_m
    return out


def road_distance_matrix_m(
    g: RoadGraph, *, origins: Sequence[tuple[float, float]], points: Sequence[tuple[float, float]]
) -> np.ndarray:
    """Many-to-many :func:`road_distances_m` (NaN where unknown): rows origins, columns points."""
    out = np.full((len(origins), len(points)), np.nan)
    for i, (x, y) in enumerate(origins):
        row = road_distances_m(g, lon=x, lat=y, points=points)
        out[i] = [np.nan if d is None else d for d in row]
    return out
