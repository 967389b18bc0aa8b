"""Reachable sets: where a person can be some minutes after a place, and the isochrones.

Earliest arrivals come from one multi-source search at the fastest plausible speed
(:class:`geo.routing.speeds.SpeedRange`), on the mode graph with its arc weights rescaled per
edge; cameras seeing a reached road stretch get a review window up to the horizon.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import shapely
import shapely.geometry
import shapely.ops
from shapely import Point
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.routing.graph import RoadGraph, get_graph
from geo.routing.search import _multi
from geo.routing.snap import Place, Snap, local_m_per_deg, place_snap, snap_dict
from geo.routing.speeds import SpeedRange, check_mode, nominal_kph
from geo.routing.windows import _aware, _window

ISOCHRONE_MINUTES = (1, 3, 5, 10)
ISOCHRONE_BUFFER_M = 25.0  # width given to a degenerate (point/line) isochrone
ISOCHRONE_STEP_M = 20.0  # sampling of reached road stretches
ISOCHRONE_HULL_RATIO = 0.05  # GEOS concave hull ratio (0 = tightest, 1 = convex)


def reachable(
    session: Session,
    *,
    origin: Place,
    at: dt.datetime | None = None,
    mode: str = "walk",
    max_minutes: float = 10.0,
    min_kph: float | None = None,
    max_kph: float | None = None,
    isochrones: tuple[float, ...] = ISOCHRONE_MINUTES,
) -> dict[str, Any]:
    """Where could they be ``max_minutes`` after ``at``: every camera reachable at the fastest
    plausible speed with its earliest arrival and the window to review (earliest arrival .. the
    end of the horizon), plus isochrone polygons (buffered reached road stretches)."""
    mode = check_mode(mode)
    at = _aware(at, "at")
    if not (0 < max_minutes <= 180) or not math.isfinite(max_minutes):
        raise InvalidInput("max_minutes must be in (0, 180]", field="max_minutes")
    speeds = SpeedRange.for_mode(mode, min_kph=min_kph, max_kph=max_kph)
    g = get_graph(session)
    s = place_snap(session, g, origin, mode=mode, field="origin")
    res = reachable_times(g, s, mode=mode, speeds=speeds, max_s=max_minutes * 60)
    horizon = at + dt.timedelta(minutes=max_minutes)
    cams = []
    for cam, t_s, d_m in res["cameras"]:
        t0 = at + dt.timedelta(seconds=t_s)
        x, y = g.camera_xy.get(cam, (math.nan, math.nan))
        cams.append(
            {
                "camera_id": cam,
                "lon": x,
                "lat": y,
                "earliest_arrival_s": round(t_s, 1),
                "earliest_arrival": t0.isoformat(),
                "distance_m": None if d_m is None else round(d_m, 1),
                **_window(cam, t0, horizon),
            }
        )
    cams.sort(key=lambda c: (c["earliest_arrival_s"], c["camera_id"]))
    polys = []
    for m in sorted({float(x) for x in isochrones if 0 < x <= max_minutes} | {float(max_minutes)}):
        poly = isochrone(g, res, s, limit_s=m * 60)
        if poly is not None:
            polys.append({"minutes": m, "geometry": shapely.geometry.mapping(poly)})
    return {
        "mode": mode,
        "at": at.isoformat(),
        "until": horizon.isoformat(),
        "max_minutes": max_minutes,
        "speed_kph": speeds.max_kph if mode == "walk" else None,
        "origin": snap_dict(s),
        "cameras": cams,
        "isochrones": polys,
        "graph_version": g.version,
    }


def reachable_times(
    g: RoadGraph, s: Snap, *, mode: str, speeds: SpeedRange, max_s: float
) -> dict[str, Any]:
    """Earliest arrival (s, at the fastest plausible speed) at every node within ``max_s``, and at
    every camera seeing a reached road stretch: {"node_s", "cameras": [(id, s, metres)]}."""
    mg = g.modes[mode]
    nominal = nominal_kph(mode, g.speed_kph)
    fast = speeds.fast(nominal)
    # arc weights are nominal seconds; scale to fastest-plausible seconds per edge: for walk a
    # constant factor, for drive per edge (factor 1.5 unless capped): use the per-edge ratio
    ratio = nominal / fast
    e = s.edge
    c_e = g.length_m[e] / (fast[e] / 3.6)
    starts = []
    if mg.fwd_ok[e]:
        starts.append((int(g.dst[e]), (1 - s.frac) * c_e))
    if mg.bwd_ok[e]:
        starts.append((int(g.src[e]), s.frac * c_e))
    csr = _scaled(g, mode, ratio, speeds)
    n = csr.shape[0]
    node_s, _ = _multi(csr, starts, max_s, n)
    speed_ms = fast / 3.6
    cams: list[tuple[int, float, float | None]] = []
    if len(g.ce_cam):
        # cameras on edges: arrival at the first seen point, from either end (vectorised)
        i, f0, f1 = g.ce_edge, g.ce_f0, g.ce_f1
        L, v = g.length_m[i], speed_ms[i]
        ts, td = node_s[g.src[i]], node_s[g.dst[i]]
        t_in = np.full(len(i), np.inf)
        t_in = np.where(mg.fwd_ok[i], np.minimum(t_in, ts + f0 * L / v), t_in)
        t_in = np.where(mg.bwd_ok[i], np.minimum(t_in, td + (1 - f1) * L / v), t_in)
        on = i == e  # the origin's own edge
        if on.any():
            here = on & (f0 <= s.frac) & (s.frac <= f1)
            ahead = on & (s.frac < f0) & mg.fwd_ok[i]
            behind = on & (s.frac > f1) & mg.bwd_ok[i]
            t_in = np.where(here, 0.0, t_in)
            t_in = np.where(ahead, np.minimum(t_in, (f0 - s.frac) * L / v), t_in)
            t_in = np.where(behind, np.minimum(t_in, (s.frac - f1) * L / v), t_in)
        t_in = np.where(mg.usable[i], t_in, np.inf)
        ok = np.flatnonzero(t_in <= max_s)
        order = ok[np.lexsort((t_in[ok], g.ce_cam[ok]))]
        _, first = np.unique(g.ce_cam[order], return_index=True)
        k = order[first]  # the earliest row of each camera
        tk = t_in[k]
        dk = tk * v[k] if mode == "walk" else np.full(len(k), np.nan)
        cams = [
            (c, t, None if math.isnan(d) else d)
            for c, t, d in zip(g.ce_cam[k].tolist(), tk.tolist(), dk.tolist(), strict=True)
        ]
    return {
        "mode": mode,
        "node_s": node_s,
        "fast_ms": speed_ms,
        "cameras": cams,
    }


_scaled_cache: dict[tuple[int, str, float, float], Any] = {}


def _scaled(g: RoadGraph, mode: str, ratio: np.ndarray, speeds: SpeedRange) -> Any:
    """The mode's CSR with each arc's weight times its edge's ``ratio`` (cached per speeds)."""
    mg = g.modes[mode]
    key = (mg.serial, mode, speeds.min_kph, speeds.max_kph)
    m = _scaled_cache.get(key)
    if m is None:
        if len(_scaled_cache) > 16:
            _scaled_cache.clear()
        m = mg.csr.copy()
        m.data[: len(mg.arc_eidx)] *= ratio[mg.arc_eidx]  # (the 2 virtual slots: per query)
        _scaled_cache[key] = m
    return m


def isochrone(g: RoadGraph, res: dict[str, Any], s: Snap, *, limit_s: float) -> Any:
    """Polygon of where the person can be within ``limit_s``: the concave hull (GEOS, ratio
    ISOCHRONE_HULL_RATIO) of the reached road stretches sampled every ISOCHRONE_STEP_M, in a
    local metric frame. (A union of buffered lines is prettier but 10-20x slower.)"""
    node_s, speed = res["node_s"], res["fast_ms"]
    mg = g.modes[res["mode"]]
    ts = np.where(mg.fwd_ok, node_s[g.src], np.inf)
    td = np.where(mg.bwd_ok, node_s[g.dst], np.inf)
    L = np.maximum(g.length_m, 1e-9)
    # reachable fraction of each edge from either end (drive: only along allowed directions)
    a_all = np.where(np.isfinite(ts), np.clip((limit_s - ts) * speed / L, 0, 1), 0)
    b_all = np.where(np.isfinite(td), np.clip((limit_s - td) * speed / L, 0, 1), 0)
    full = np.flatnonzero(a_all + b_all >= 1)
    parts = list(g.geoms[full])
    for i in np.flatnonzero(((a_all > 0) | (b_all > 0)) & (a_all + b_all < 1)):
        if a_all[i] > 0:
            parts.append(shapely.ops.substring(g.geoms[i], 0, a_all[i], normalized=True))
        if b_all[i] > 0:
            parts.append(shapely.ops.substring(g.geoms[i], 1 - b_all[i], 1, normalized=True))
    parts.append(Point(s.lon, s.lat))
    kx, ky = local_m_per_deg(s.lon, s.lat)

    def to_m(c: np.ndarray) -> np.ndarray:
        return np.column_stack([(c[:, 0] - s.lon) * kx, (c[:, 1] - s.lat) * ky])

    def to_deg(c: np.ndarray) -> np.ndarray:
        return np.column_stack([c[:, 0] / kx + s.lon, c[:, 1] / ky + s.lat])

    geoms = shapely.transform(np.array(parts, dtype=object), to_m)
    pts = shapely.get_coordinates(shapely.segmentize(geoms, ISOCHRONE_STEP_M))
    poly = shapely.concave_hull(shapely.multipoints(pts), ratio=ISOCHRONE_HULL_RATIO)
    if poly.geom_type != "Polygon" or poly.area < 1.0:  # a point or a line: widen it
        poly = shapely.buffer(poly, ISOCHRONE_BUFFER_M, quad_segs=4)
    return shapely.transform(poly, to_deg)
