"""Routes between two places and the cameras along them, with their review windows."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
import shapely.geometry
import shapely.ops
from shapely import LineString
from sqlalchemy.orm import Session

from geo.errors import Unreachable
from geo.routing import search
from geo.routing.graph import ModeGraph, RoadGraph, get_graph
from geo.routing.snap import Place, Snap, edge_cost, haversine_m, place_snap, snap_dict, snap_ends
from geo.routing.speeds import WALK_SPEED_KPH, SpeedRange, check_mode
from geo.routing.windows import _aware, _cum_time, _window, time_at


@dataclass
class Piece:
    """A stretch of one edge on a route: edge index, traversed from ``f0`` to ``f1`` (fractions)."""

    edge: int
    f0: float
    f1: float


@dataclass
class Route:
    """A route on the network with its pieces, metres, nominal seconds and geometry."""

    mode: str
    pieces: list[Piece]
    length_m: float
    travel_time_s: float
    geometry: LineString
    start: Snap
    end: Snap
    piece_m: np.ndarray  # metres per piece
    piece_speed_kph: np.ndarray  # nominal speed per piece

    def cumulative_m(self) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(self.piece_m)])


def first_radius_s(g: RoadGraph, mode: str, a: Snap, b: Snap) -> float:
    """First search radius: half the straight-line distance at the mode's top speed, times the
    typical detour (one round usually proves the answer)."""
    dist = haversine_m(a.lon, a.lat, b.lon, b.lat)
    top = WALK_SPEED_KPH if mode == "walk" else max(float(g.speed_kph.max()), 1.0)
    return 0.5 * search.DETOUR_FACTOR * dist / (top / 3.6)


def direct_cost(g: RoadGraph, mode: str, a: Snap, b: Snap) -> float:
    """Seconds from ``a`` to ``b`` staying on their common edge (inf when not allowed)."""
    mg = g.modes[mode]
    e, fa, fb = a.edge, a.frac, b.frac
    if a.edge == b.edge and ((fb >= fa and mg.fwd_ok[e]) or (fb <= fa and mg.bwd_ok[e])):
        return abs(fb - fa) * edge_cost(g, mode, e)
    return math.inf


def route(g: RoadGraph, *, start: Snap, end: Snap, mode: str) -> Route:
    """The cheapest route (walk: shortest, drive: fastest) between two snapped points."""
    mg = g.modes[mode]
    sources = snap_ends(g, start, mode=mode, leaving=True)
    targets = snap_ends(g, end, mode=mode, leaving=False)
    direct = direct_cost(g, mode, start, end)
    try:
        r0 = first_radius_s(g, mode, start, end)
        cost, nodes = search.one_to_one(mg, sources, targets, r0=r0)
    except Unreachable:
        if not np.isfinite(direct):
            raise Unreachable(
                f"no {mode} route from {start.field} to {end.field} on the road network",
                field=end.field,
            ) from None
        cost, nodes = np.inf, []
    if direct <= cost:
        pieces = [Piece(start.edge, start.frac, end.frac)]
    else:
        pieces = _pieces(g, mg, nodes, start, end)
    return _make_route(g, mode, pieces, start, end)


def _pieces(g: RoadGraph, mg: ModeGraph, nodes: list[int], start: Snap, end: Snap) -> list[Piece]:
    ea, eb = start.edge, end.edge
    first = nodes[0]
    pieces = [Piece(ea, start.frac, 1.0 if int(g.dst[ea]) == first else 0.0)]
    for a, b in zip(nodes[:-1], nodes[1:], strict=True):
        e, fwd = mg.arc_edge[(a, b)]
        pieces.append(Piece(e, 0.0, 1.0) if fwd else Piece(e, 1.0, 0.0))
    last = nodes[-1]
    pieces.append(Piece(eb, 0.0 if int(g.src[eb]) == last else 1.0, end.frac))
    return [p for p in pieces if abs(p.f1 - p.f0) > 1e-12]


def _make_route(g: RoadGraph, mode: str, pieces: list[Piece], start: Snap, end: Snap) -> Route:
    chunks: list[np.ndarray] = [np.array([[start.lon, start.lat]])]
    pm, ps = [], []
    for p in pieces:
        if (p.f0, p.f1) == (0.0, 1.0):
            c = g.coords[p.edge]
        elif (p.f0, p.f1) == (1.0, 0.0):
            c = g.coords[p.edge][::-1]
        else:
            lo, hi = sorted((p.f0, p.f1))
            part = shapely.ops.substring(g.geoms[p.edge], lo, hi, normalized=True)
            c = shapely.get_coordinates(part)
            if len(c) == 1:
                c = np.vstack([c, c])
            if p.f1 < p.f0:
                c = c[::-1]
        chunks.append(c)
        pm.append(abs(p.f1 - p.f0) * g.length_m[p.edge])
        ps.append(WALK_SPEED_KPH if mode == "walk" else g.speed_kph[p.edge])
    chunks.append(np.array([[end.lon, end.lat]]))
    allc = np.vstack(chunks)
    keep = np.ones(len(allc), bool)
    keep[1:] = np.any(allc[1:] != allc[:-1], axis=1)
    allc = allc[keep]
    if len(allc) < 2:
        allc = np.vstack([allc[:1], allc[:1]])
    piece_m = np.array(pm, dtype=float)
    speed = np.array(ps, dtype=float)
    length = float(piece_m.sum())
    tt = float((piece_m / (speed / 3.6)).sum()) if len(pieces) else 0.0
    return Route(mode, pieces, length, tt, LineString(allc), start, end, piece_m, speed)


@dataclass
class CameraPass:
    """A camera that sees the route: where along the route it sees it (first..last metre)."""

    camera_id: int
    distance_along_m: float
    distance_until_m: float
    lon: float
    lat: float


def cameras_along(g: RoadGraph, r: Route, *, exclude: set[int] | None = None) -> list[CameraPass]:
    """Cameras whose view covers part of the route, ordered by where the route enters the view.

    Vectorised over (piece, camera-edge row) pairs: the seen stretch ``[c0, c1]`` of an edge
    meets the traversed stretch ``[lo, hi]``; its ends are mapped to metres along the route.
    """
    if not len(g.ce_cam) or not r.pieces:
        return []
    pe = np.array([p.edge for p in r.pieces], dtype=np.int64)
    pf0 = np.array([p.f0 for p in r.pieces])
    pf1 = np.array([p.f1 for p in r.pieces])
    cum = r.cumulative_m()[:-1]
    starts, stops = g.ce_ptr[pe], g.ce_ptr[pe + 1]
    counts = stops - starts
    tot = int(counts.sum())
    if tot == 0:
        return []
    rows = (
        np.arange(tot) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(starts, counts)
    )
    pi = np.repeat(np.arange(len(pe)), counts)
    lo, hi = np.minimum(pf0[pi], pf1[pi]), np.maximum(pf0[pi], pf1[pi])
    c0, c1 = g.ce_f0[rows], g.ce_f1[rows]
    a, b = np.maximum(lo, c0), np.minimum(hi, c1)
    span = hi - lo
    ok = b >= a
    fwd = pf1[pi] >= pf0[pi]
    safe = np.where(span > 0, span, 1.0)
    d0 = np.where(span > 0, np.where(fwd, (a - pf0[pi]) / safe, (pf0[pi] - b) / safe), 0.0)
    d1 = np.where(span > 0, np.where(fwd, (b - pf0[pi]) / safe, (pf0[pi] - a) / safe), 0.0)
    s_m = cum[pi] + d0 * r.piece_m[pi]
    e_m = cum[pi] + d1 * r.piece_m[pi]
    cams = g.ce_cam[rows]
    sel = np.flatnonzero(ok)
    if exclude:
        sel = sel[~np.isin(cams[sel], list(exclude))]
    if not len(sel):
        return []
    cams, s_m, e_m = cams[sel], s_m[sel], e_m[sel]
    order = np.argsort(cams, kind="stable")
    cams, s_m, e_m = cams[order], s_m[order], e_m[order]
    first = np.flatnonzero(np.r_[True, cams[1:] != cams[:-1]])
    smin = np.minimum.reduceat(s_m, first)
    emax = np.maximum.reduceat(e_m, first)
    out = []
    for cam, s0, e0 in zip(cams[first].tolist(), smin.tolist(), emax.tolist(), strict=True):
        x, y = g.camera_xy.get(cam, (math.nan, math.nan))
        out.append(CameraPass(cam, s0, e0, x, y))
    out.sort(key=lambda c: (c.distance_along_m, c.camera_id))
    return out


def find_route(
    session: Session,
    *,
    origin: Place,
    destination: Place,
    mode: str = "walk",
    depart_at: dt.datetime | None = None,
    min_kph: float | None = None,
    max_kph: float | None = None,
) -> dict[str, Any]:
    """Route between two places with the cameras along it and their review windows.

    Each camera's window runs from passing its view's first metre at the fastest plausible speed
    to passing its last metre at the slowest one.
    """
    mode = check_mode(mode)
    depart = _aware(depart_at, "depart_at")
    speeds = SpeedRange.for_mode(mode, min_kph=min_kph, max_kph=max_kph)
    g = get_graph(session)
    a = place_snap(session, g, origin, mode=mode, field="from")
    b = place_snap(session, g, destination, mode=mode, field="to")
    r = route(g, start=a, end=b, mode=mode)
    fast, slow = speeds.fast(r.piece_speed_kph), speeds.slow(r.piece_speed_kph)
    along = cameras_along(g, r)
    cum = r.cumulative_m()
    t_fast = np.interp([c.distance_along_m for c in along], cum, _cum_time(r, fast)).tolist()
    t_slow = np.interp([c.distance_until_m for c in along], cum, _cum_time(r, slow)).tolist()
    cams = []
    for c, s0, s1 in zip(along, t_fast, t_slow, strict=True):
        t0 = depart + dt.timedelta(seconds=s0)
        t1 = depart + dt.timedelta(seconds=s1)
        cams.append(
            {
                "camera_id": c.camera_id,
                "lon": c.lon,
                "lat": c.lat,
                "distance_along_m": round(c.distance_along_m, 1),
                "distance_until_m": round(c.distance_until_m, 1),
                **_window(c.camera_id, t0, t1),
            }
        )
    return {
        "mode": mode,
        "depart_at": depart.isoformat(),
        "arrive_at": (depart + dt.timedelta(seconds=r.travel_time_s)).isoformat(),
        "length_m": round(r.length_m, 2),
        "travel_time_s": round(r.travel_time_s, 1),
        "travel_time_fastest_s": round(time_at(r, fast, r.length_m), 1),
        "travel_time_slowest_s": round(time_at(r, slow, r.length_m), 1),
        "speed_range_kph": [speeds.min_kph, speeds.max_kph],
        "from": snap_dict(a),
        "to": snap_dict(b),
        "geometry": shapely.geometry.mapping(r.geometry),
        "cameras_along": cams,
        "graph_version": g.version,
    }
