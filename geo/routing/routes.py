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
from geo.routing import compiled, kernel, search
from geo.routing.graph import ModeGraph, RoadGraph, get_graph
from geo.routing.snap import (
    Place,
    Snap,
    edge_cost,
    haversine_m,
    place_point,
    place_snap,
    snap_dict,
    snap_ends,
)
from geo.routing.speeds import WALK_SPEED_KPH, SpeedRange, check_mode
from geo.routing.windows import _aware, _cum_time, window_columns


@dataclass
class Piece:
    """A stretch of one edge on a route: edge index, traversed from ``f0`` to ``f1`` (fractions)."""

    edge: int
    f0: float
    f1: float


@dataclass
class Route:
    """A route on the network with its pieces, metres, nominal seconds and geometry.

    ``given_pieces`` may be ``None`` when ``arrays`` is set: :attr:`pieces` then makes the
    :class:`Piece` objects on first use (an answer reads the arrays only)."""

    mode: str
    given_pieces: list[Piece] | None
    length_m: float
    travel_time_s: float
    given_geometry: LineString | None  # made from ``coords`` on first read when None
    start: Snap
    end: Snap
    piece_m: np.ndarray  # metres per piece
    piece_speed_kph: np.ndarray  # nominal speed per piece
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # pieces' edge, f0, f1
    coords: np.ndarray | None = None  # the geometry's (k, 2) coordinates, when made here
    along: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # cameras along, if known
    along_lonlat: tuple[np.ndarray, np.ndarray] | None = None  # and their positions

    @property
    def geometry(self) -> LineString:
        if self.given_geometry is None:
            self.given_geometry = LineString(self.coords)
        return self.given_geometry

    @property
    def pieces(self) -> list[Piece]:
        if self.given_pieces is None:
            pe, pf0, pf1 = self.arrays  # type: ignore[misc]
            self.given_pieces = [
                Piece(*x) for x in zip(pe.tolist(), pf0.tolist(), pf1.tolist(), strict=True)
            ]
        return self.given_pieces

    def cumulative_m(self) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(self.piece_m)])

    def piece_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pieces as arrays: edge index, start and end fractions."""
        if self.arrays is None:
            self.arrays = (
                np.array([p.edge for p in self.pieces], dtype=np.int64),
                np.array([p.f0 for p in self.pieces], dtype=float),
                np.array([p.f1 for p in self.pieces], dtype=float),
            )
        return self.arrays


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
    """The cheapest route (walk: shortest, drive: fastest) between two snapped points.

    With the mode's hierarchy ready, one compiled call (:func:`geo.routing.kernel.route_packed`)
    makes the route, its geometry and the cameras along it; else the plain searches below."""
    mg = g.modes[mode]
    if compiled.usable(mg, search.USE_PREPARED):
        r = _compiled_route(g, mg, mode, start, end)
        if r is not None:
            return r
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
        arrays = (np.array([start.edge]), np.array([start.frac]), np.array([end.frac]))
    else:
        arrays = _piece_arrays(g, mg, nodes, start, end)
    return _route_from_arrays(g, mode, arrays, start, end)


def _compiled_route(g: RoadGraph, mg: ModeGraph, mode: str, start: Snap, end: Snap) -> Route | None:
    """:func:`route` in one compiled call, its cameras along kept on the route (``None``: the
    general builder must answer, e.g. a piece in the middle of the route is partial)."""
    status, *arrays = compiled.route_snapped(g, mg, start, end)
    if status == kernel.NO_PATH:
        raise Unreachable(
            f"no {mode} route from {start.field} to {end.field} on the road network",
            field=end.field,
        )
    return _route_of(g, mode, start, end, *arrays) if status == kernel.OK else None


def _route_of(
    g: RoadGraph,
    mode: str,
    start: Snap,
    end: Snap,
    pe: np.ndarray,
    pf0: np.ndarray,
    pf1: np.ndarray,
    coords: np.ndarray,
    pm: np.ndarray,
    speed: np.ndarray,
    length: float,
    tt: float,
    cams: np.ndarray,
    s_m: np.ndarray,
    e_m: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
) -> Route:
    """The :class:`Route` of a compiled call's answer (pieces, geometry, metres and seconds
    summed as numpy sums, cameras along with their positions)."""
    r = Route(
        mode, None, float(length), float(tt), None, start, end, pm, speed, (pe, pf0, pf1), coords
    )
    r.along = (cams, s_m, e_m)
    r.along_lonlat = (lon, lat)
    return r


def route_places(
    session: Session, g: RoadGraph, *, origin: Place, destination: Place, mode: str
) -> Route:
    """Snap two places (points or cameras) and route between them: with the mode's hierarchy
    ready, both snaps and the route are one compiled call (:func:`route` otherwise)."""
    mg = g.modes[mode]
    if not compiled.usable(mg, search.USE_PREPARED):
        a = place_snap(session, g, origin, mode=mode, field="from")
        b = place_snap(session, g, destination, mode=mode, field="to")
        return route(g, start=a, end=b, mode=mode)
    pa = place_point(session, origin, field="from")
    pb = place_point(session, destination, field="to")
    status, ea, fa, da, eb, fb, db, *arrays = compiled.route_points(
        g, mg, (pa.lon, pa.lat, pa.kx), (pb.lon, pb.lat, pb.kx)
    )
    if status in (kernel.SNAP_FROM, kernel.SNAP_TO):  # the shapely search words the refusal
        a = pa.snap(g, mode)
        b = pb.snap(g, mode)
        return route(g, start=a, end=b, mode=mode)
    a = Snap(pa.lon, pa.lat, int(ea), float(fa), float(da), pa.field, pa.camera_id)
    b = Snap(pb.lon, pb.lat, int(eb), float(fb), float(db), pb.field, pb.camera_id)
    if status == kernel.NO_PATH:
        raise Unreachable(
            f"no {mode} route from {a.field} to {b.field} on the road network", field=b.field
        )
    if status != kernel.OK:
        return route(g, start=a, end=b, mode=mode)
    return _route_of(g, mode, a, b, *arrays)


def _piece_arrays(
    g: RoadGraph, mg: ModeGraph, nodes: list[int] | np.ndarray, start: Snap, end: Snap
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pieces of the route through ``nodes`` (from ``start``'s edge to ``end``'s) as
    arrays: edge index, start and end fractions; each consecutive node pair's arc is found in
    its node's CSR row by one compiled pass (:func:`geo.routing.unpack.path_arcs`)."""
    from geo.routing.unpack import path_arcs

    path = np.asarray(nodes, dtype=np.int64)
    k = path_arcs(mg.csr.indptr, mg.csr.indices, path)
    fwd = mg.arc_fwd[k]
    ea, eb = start.edge, end.edge
    pe = np.concatenate(([ea], mg.arc_eidx[k], [eb])).astype(np.int64)
    f_in = np.where(fwd, 0.0, 1.0)
    pf0 = np.concatenate(([start.frac], f_in, [0.0 if int(g.src[eb]) == path[-1] else 1.0]))
    pf1 = np.concatenate(([1.0 if int(g.dst[ea]) == path[0] else 0.0], 1.0 - f_in, [end.frac]))
    keep = np.abs(pf1 - pf0) > 1e-12
    return pe[keep], pf0[keep], pf1[keep]


def _pieces(g: RoadGraph, mg: ModeGraph, nodes: list[int], start: Snap, end: Snap) -> list[Piece]:
    pe, pf0, pf1 = _piece_arrays(g, mg, nodes, start, end)
    return [Piece(*x) for x in zip(pe.tolist(), pf0.tolist(), pf1.tolist(), strict=True)]


def _partial_coords(g: RoadGraph, e: int, f0: float, f1: float) -> np.ndarray:
    lo, hi = sorted((f0, f1))
    c = shapely.get_coordinates(shapely.ops.substring(g.geoms[e], lo, hi, normalized=True))
    if len(c) == 1:
        c = np.vstack([c, c])
    return c[::-1] if f1 < f0 else c


def _route_from_arrays(
    g: RoadGraph,
    mode: str,
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    start: Snap,
    end: Snap,
) -> Route:
    """The route of the pieces ``arrays``: whole edges' coordinates gathered from the flat
    coordinate array at once, only partial pieces (at most the two ends) cut by shapely."""
    pe, pf0, pf1 = arrays
    whole = ((pf0 == 0.0) & (pf1 == 1.0)) | ((pf0 == 1.0) & (pf1 == 0.0))
    if len(g.xy_ptr) != len(g.edge_ids) + 1 or not whole[1:-1].all():
        pieces = [Piece(*x) for x in zip(pe.tolist(), pf0.tolist(), pf1.tolist(), strict=True)]
        return _make_route(g, mode, pieces, start, end)
    chunks: list[np.ndarray] = [np.array([[start.lon, start.lat]])]
    lo_i, hi_i = 0, len(pe)
    if len(pe) and not whole[0]:
        chunks.append(_partial_coords(g, int(pe[0]), float(pf0[0]), float(pf1[0])))
        lo_i = 1
    tail = None
    if len(pe) > 1 and not whole[-1]:
        tail = _partial_coords(g, int(pe[-1]), float(pf0[-1]), float(pf1[-1]))
        hi_i = len(pe) - 1
    if hi_i > lo_i:
        from geo.routing.unpack import gather_coords

        chunks.append(gather_coords(g.xy_flat, g.xy_ptr, pe[lo_i:hi_i], pf1[lo_i:hi_i] == 1.0))
    if tail is not None:
        chunks.append(tail)
    chunks.append(np.array([[end.lon, end.lat]]))
    piece_m = np.abs(pf1 - pf0) * g.length_m[pe]
    speed = np.full(len(pe), WALK_SPEED_KPH) if mode == "walk" else g.speed_kph[pe].astype(float)
    return _finish(mode, None, chunks, piece_m, speed, start, end, (pe, pf0, pf1))


def _finish(
    mode: str,
    pieces: list[Piece] | None,
    chunks: list[np.ndarray],
    piece_m: np.ndarray,
    speed: np.ndarray,
    start: Snap,
    end: Snap,
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
) -> Route:
    allc = np.concatenate(chunks)
    step = allc[1:] - allc[:-1]
    keep = np.concatenate(([True], (step[:, 0] != 0) | (step[:, 1] != 0)))
    allc = allc[keep]
    if len(allc) < 2:
        allc = np.vstack([allc[:1], allc[:1]])
    length = float(piece_m.sum())
    tt = float((piece_m / (speed / 3.6)).sum()) if len(piece_m) else 0.0
    return Route(
        mode, pieces, length, tt, LineString(allc), start, end, piece_m, speed, arrays, allc
    )


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
    piece_m = np.array(pm, dtype=float)
    speed = np.array(ps, dtype=float)
    return _finish(mode, pieces, chunks, piece_m, speed, start, end, None)


@dataclass(slots=True)
class CameraPass:
    """A camera that sees the route: where along the route it sees it (first..last metre)."""

    camera_id: int
    distance_along_m: float
    distance_until_m: float
    lon: float
    lat: float


def cameras_along(g: RoadGraph, r: Route, *, exclude: set[int] | None = None) -> list[CameraPass]:
    """Cameras whose view covers part of the route, ordered by where the route enters the view.

    One compiled pass over the route's pieces and the edge -> cameras CSR
    (:func:`geo.routing.along.along_kernel`): the seen stretch ``[c0, c1]`` of an edge meets the
    traversed stretch; its ends are mapped to metres along the route, reduced per camera.
    """
    cams, s_m, e_m = _along(g, r, exclude)
    lon, lat = _lonlat(g, r, cams, exclude)
    return [
        CameraPass(*x)
        for x in zip(cams.tolist(), s_m.tolist(), e_m.tolist(), lon, lat, strict=True)
    ]


def _lonlat(
    g: RoadGraph, r: Route, cams: np.ndarray, exclude: set[int] | None = None
) -> tuple[list[float], list[float]]:
    """Positions of the cameras along ``r`` (``cams``: :func:`_along`'s, same ``exclude``)."""
    if r.along_lonlat is not None and not exclude:
        return r.along_lonlat[0].tolist(), r.along_lonlat[1].tolist()
    return _camera_lonlat(g, cams)


def _camera_lonlat(g: RoadGraph, cams: np.ndarray) -> tuple[list[float], list[float]]:
    """Longitudes and latitudes of cameras on the graph's roads (every camera along a route
    is one: both come from ``camera_edges``, :func:`geo.routing.graph._load_cameras_on_edges`)."""
    if not len(cams):
        return [], []
    xy = g.cam_lonlat[np.searchsorted(g.cam_ids, cams)]
    return xy[:, 0].tolist(), xy[:, 1].tolist()


def _along(
    g: RoadGraph, r: Route, exclude: set[int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`cameras_along` as arrays (camera id, first metre, last metre), in route order."""
    if not len(g.ce_cam) or not len(r.piece_m):
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    if r.along is not None:  # made with the route (geo.routing.kernel), in route order
        cams, s_m, e_m = r.along
        if exclude and len(cams):
            ok = ~np.isin(cams, list(exclude))
            return cams[ok], s_m[ok], e_m[ok]
        return cams, s_m, e_m
    from geo.routing.along import along_kernel

    pe, pf0, pf1 = r.piece_arrays()
    pm = np.asarray(r.piece_m, dtype=float)
    cum = np.concatenate(([0.0], np.cumsum(pm)[:-1]))
    cams, s_m, e_m = along_kernel(pe, pf0, pf1, cum, pm, g.ce_ptr, g.ce_cam, g.ce_f0, g.ce_f1)
    if exclude and len(cams):
        ok = ~np.isin(cams, list(exclude))
        cams, s_m, e_m = cams[ok], s_m[ok], e_m[ok]
    order = np.lexsort((cams, s_m))
    return cams[order], s_m[order], e_m[order]


def find_route(
    session: Session,
    *,
    origin: Place,
    destination: Place,
    mode: str = "walk",
    depart_at: dt.datetime | None = None,
    min_kph: float | None = None,
    max_kph: float | None = None,
    graph: RoadGraph | None = None,
) -> dict[str, Any]:
    """Route between two places with the cameras along it and their review windows.

    Each camera's window runs from passing its view's first metre at the fastest plausible speed
    to passing its last metre at the slowest one. ``graph``: the road graph to answer from
    (default :func:`~geo.routing.graph.get_graph`, whose load counter is notified, in memory).
    """
    mode = check_mode(mode)
    depart = _aware(depart_at, "depart_at")
    speeds = SpeedRange.for_mode(mode, min_kph=min_kph, max_kph=max_kph)
    g = get_graph(session) if graph is None else graph
    r = route_places(session, g, origin=origin, destination=destination, mode=mode)
    a, b = r.start, r.end
    fast, slow = speeds.fast(r.piece_speed_kph), speeds.slow(r.piece_speed_kph)
    ids, s_m, e_m = _along(g, r)
    cum, ct_fast, ct_slow = r.cumulative_m(), _cum_time(r, fast), _cum_time(r, slow)
    t_fast = np.interp(s_m, cum, ct_fast).tolist()
    t_slow = np.interp(e_m, cum, ct_slow).tolist()
    cam_ids = ids.tolist()
    lon, lat = _lonlat(g, r, ids)
    cams = [
        {
            "camera_id": c,
            "lon": x,
            "lat": y,
            "distance_along_m": round(a, 1),
            "distance_until_m": round(b, 1),
            "expected_from": t0,
            "expected_to": t1,
            "review_s": rv,
            "playback": link,
        }
        for c, x, y, a, b, (t0, t1, rv, link) in zip(
            cam_ids,
            lon,
            lat,
            s_m.tolist(),
            e_m.tolist(),
            window_columns(cam_ids, t_fast, t_slow, start=depart),
            strict=True,
        )
    ]
    return {
        "mode": mode,
        "depart_at": depart.isoformat(),
        "arrive_at": (depart + dt.timedelta(seconds=r.travel_time_s)).isoformat(),
        "length_m": round(r.length_m, 2),
        "travel_time_s": round(r.travel_time_s, 1),
        "travel_time_fastest_s": round(float(np.interp(r.length_m, cum, ct_fast)), 1),
        "travel_time_slowest_s": round(float(np.interp(r.length_m, cum, ct_slow)), 1),
        "speed_range_kph": [speeds.min_kph, speeds.max_kph],
        "from": snap_dict(a),
        "to": snap_dict(b),
        "geometry": {
            "type": "LineString",
            "coordinates": (
                shapely.get_coordinates(r.geometry) if r.coords is None else r.coords
            ).tolist(),
        },
        "cameras_along": cams,
        "graph_version": g.version,
    }
