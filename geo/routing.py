"""In-memory routing on the road network: routes, reachable sets and the cameras along them.

DESIGN decision 5: the graph is built from ``road_edges`` once and kept in memory, versioned by
the load counter ``max(data_loads.id)``; any load makes the next call rebuild it. pgRouting stays
in the database as the reference (tests check both give the same lengths).

Modes
    ``walk``  every edge both ways except motorways; constant speed (default 5 km/h, plausible
              range 3-7 km/h); the shortest path by length.
    ``drive`` drivable edges only, one-way streets respected; each edge at its ``speed_kph``
              (OSM maxspeed or class default); the fastest path by travel time.

Points are snapped to the nearest usable edge (within ``MAX_SNAP_M``) at their position along it,
so routes start and end where the person was, not at the nearest intersection. Shortest paths
are a bidirectional Dijkstra built from two radius-limited scipy searches (forward on the graph,
backward on its transpose) whose radius doubles until the best meeting arc is proven optimal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import shapely
import shapely.geometry
import shapely.ops
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from shapely import LineString, Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput, NotFound, Unreachable

Mode = Literal["walk", "drive"]
MODES: tuple[str, ...] = ("walk", "drive")

MAX_SNAP_M = 500.0  # a point farther than this from every usable road is refused
DETOUR_FACTOR = 1.4  # first search radius: typical network / straight-line ratio (one round)
SMALL_GRAPH_NODES = 10_000  # up to here one full Dijkstra per route, above it bidirectional
AT_NODE_M = 0.5  # a snapped point this close to an edge end stands on that node
#: Snapping uses every (strongly) connected piece with at least this share of the largest one's
#: nodes: cut-off fragments of an extract are left out, separate areas (two cities) are kept.
MAIN_PIECE_SHARE = 0.1
WALK_SPEED_KPH = 5.0  # nominal walking speed
WALK_SPEED_RANGE_KPH = (3.0, 7.0)  # slowest / fastest plausible walking (review windows)
WALK_RUN_CAP_KPH = 15.0  # a sustained run: faster than this on foot is infeasible
DRIVE_FAST_FACTOR = 1.5  # fastest plausible driving: 1.5 x the posted/default speed...
DRIVE_CAP_KPH = 130.0  # ...but never above this
DRIVE_SLOW_FACTOR = 0.3  # slowest plausible driving (congestion): 0.3 x posted speed...
DRIVE_SLOW_MIN_KPH = 5.0  # ...but at least walking pace
WALK_EXCLUDED = frozenset({"motorway", "motorway_link"})
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQ = 111_320.0


# --------------------------------------------------------------------------- the graph


@dataclass
class ModeGraph:
    """One mode's directed graph: CSR of arc weights (seconds) and who each arc is."""

    csr: Any
    csr_t: Any
    arc_edge: dict[tuple[int, int], tuple[int, bool]]  # (u, v) -> (edge index, forward?)
    usable: np.ndarray  # bool per edge: usable in this mode at all
    fwd_ok: np.ndarray  # bool per edge: may be travelled source -> target
    bwd_ok: np.ndarray  # bool per edge: may be travelled target -> source
    tree: Any  # STRtree over the usable edges' geometries (degrees)
    tree_idx: np.ndarray  # tree position -> edge index
    max_w: float = 0.0  # largest arc weight (bounds the frontier of a radius-limited search)
    arc_eidx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # CSR order


@dataclass
class RoadGraph:
    """The road network in memory: nodes, edges (with geometry) and one graph per mode."""

    version: int
    node_ids: np.ndarray
    node_xy: np.ndarray  # lon, lat
    edge_ids: np.ndarray
    src: np.ndarray  # node index
    dst: np.ndarray
    length_m: np.ndarray
    speed_kph: np.ndarray
    oneway: np.ndarray
    drivable: np.ndarray
    highway: list[str | None]
    names: list[str | None]
    geoms: np.ndarray  # shapely LineStrings, lon/lat, source -> target
    cameras_on_edge: dict[int, list[tuple[int, float, float]]] = field(default_factory=dict)
    camera_xy: dict[int, tuple[float, float]] = field(default_factory=dict)
    modes: dict[str, ModeGraph] = field(default_factory=dict)
    edge_index: dict[int, int] = field(default_factory=dict)
    coords: list[np.ndarray] = field(default_factory=list)  # per edge, (k, 2) lon/lat
    # camera_edges as arrays: camera id, edge index, seen fractions
    ce_cam: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ce_edge: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ce_f0: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ce_f1: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ce_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))  # rows per edge

    def speed_ms(self, mode: str, *, walk_kph: float = WALK_SPEED_KPH) -> np.ndarray:
        """Nominal speed per edge in m/s for ``mode``."""
        if mode == "walk":
            return np.full(len(self.edge_ids), walk_kph / 3.6)
        return self.speed_kph / 3.6


_cache: dict[str, RoadGraph] = {}
_lock = threading.Lock()


def graph_version(session: Session) -> int:
    """The load counter the graph is versioned by (0 when nothing was ever loaded)."""
    return int(session.execute(text("select coalesce(max(id), 0) from data_loads")).scalar_one())


def get_graph(session: Session) -> RoadGraph:
    """The in-memory graph for this database, rebuilt when a load happened since it was built."""
    key = session.get_bind().engine.url.render_as_string(hide_password=True)
    version = graph_version(session)
    g = _cache.get(key)
    if g is not None and g.version == version:
        return g
    with _lock:
        g = _cache.get(key)
        if g is None or g.version != version:
            from geo.camera_edges import camera_edges_version, refresh_camera_edges

            if camera_edges_version(session) != version:
                refresh_camera_edges(session)  # a camera/building load moved the views
            g = build_graph(session, version=version)
            _cache[key] = g
    return g


def build_graph(session: Session, *, version: int = 0) -> RoadGraph:
    """Read ``road_nodes``/``road_edges`` (and ``camera_edges``) and build both mode graphs."""
    _tree_cache.clear()
    _scaled_cache.clear()
    nodes = session.execute(
        text("select id, st_x(geom), st_y(geom) from road_nodes order by id")
    ).all()
    if not nodes:
        raise Unreachable("no road network is loaded (goldentime load roads FILE)", field="roads")
    node_ids = np.array([n[0] for n in nodes], dtype=np.int64)
    node_xy = np.array([(n[1], n[2]) for n in nodes], dtype=float)
    pos = {int(n): i for i, n in enumerate(node_ids)}
    rows = session.execute(
        text("""select id, source, target, length_m, speed_kph, oneway, drivable, highway, name,
                       st_asbinary(geom)
                from road_edges order by id""")
    ).all()
    g = RoadGraph(
        version=version,
        node_ids=node_ids,
        node_xy=node_xy,
        edge_ids=np.array([r[0] for r in rows], dtype=np.int64),
        src=np.array([pos[r[1]] for r in rows], dtype=np.int64),
        dst=np.array([pos[r[2]] for r in rows], dtype=np.int64),
        length_m=np.array([r[3] for r in rows], dtype=float),
        speed_kph=np.array([r[4] for r in rows], dtype=float),
        oneway=np.array([r[5] for r in rows], dtype=bool),
        drivable=np.array([r[6] for r in rows], dtype=bool),
        highway=[r[7] for r in rows],
        names=[r[8] for r in rows],
        geoms=shapely.from_wkb([bytes(r[9]) for r in rows]),
    )
    g.edge_index = {int(e): i for i, e in enumerate(g.edge_ids)}
    xy_all, owner = shapely.get_coordinates(g.geoms, return_index=True)
    g.coords = np.split(xy_all, np.flatnonzero(np.diff(owner)) + 1)
    walk_ok = np.array([h not in WALK_EXCLUDED for h in g.highway], dtype=bool)
    g.modes["walk"] = _mode_graph(g, walk_ok, walk_ok, walk_ok, g.length_m / (WALK_SPEED_KPH / 3.6))
    drive_ok = g.drivable & (g.speed_kph > 0)
    g.modes["drive"] = _mode_graph(
        g,
        drive_ok,
        drive_ok,
        drive_ok & ~g.oneway,
        g.length_m / np.maximum(g.speed_kph, 1e-6) * 3.6,
    )
    _load_cameras_on_edges(session, g)
    return g


def _mode_graph(
    g: RoadGraph, usable: np.ndarray, fwd_ok: np.ndarray, bwd_ok: np.ndarray, cost_s: np.ndarray
) -> ModeGraph:
    n = len(g.node_ids)
    fi = np.flatnonzero(fwd_ok & (g.src != g.dst))
    bi = np.flatnonzero(bwd_ok & (g.src != g.dst))
    u = np.concatenate([g.src[fi], g.dst[bi]])
    v = np.concatenate([g.dst[fi], g.src[bi]])
    w = np.concatenate([cost_s[fi], cost_s[bi]])
    eidx = np.concatenate([fi, bi])
    fwd = np.concatenate([np.ones(len(fi), bool), np.zeros(len(bi), bool)])
    # parallel arcs: keep the cheapest (scipy would add duplicates up)
    order = np.lexsort((w, v, u))
    u, v, w, eidx, fwd = u[order], v[order], w[order], eidx[order], fwd[order]
    first = np.ones(len(u), bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, w, eidx, fwd = u[first], v[first], w[first], eidx[first], fwd[first]
    w = np.maximum(w, 1e-9)  # an explicit zero would be read as "no arc"
    csr = csr_matrix((w, (u, v)), shape=(n, n))
    # a spare row n with two slots: the per-query virtual node (snapped point -> edge ends)
    csr = _with_virtual(csr)
    arc_edge = {
        (int(a), int(b)): (int(e), bool(f)) for a, b, e, f in zip(u, v, eidx, fwd, strict=True)
    }
    # snap only onto the large (strongly) connected pieces: a point next to a cut-off fragment
    # of the extract would otherwise be unreachable from everywhere; each loaded area (Daejeon,
    # Helsinki) is a large piece of its own (MAIN_PIECE_SHARE)
    _, labels = connected_components(csr[:n, :n], directed=True, connection="strong")
    sizes = np.bincount(labels) if len(labels) else np.zeros(1, dtype=np.int64)
    big = sizes >= max(1.0, MAIN_PIECE_SHARE * float(sizes.max()))
    in_main = big[labels[g.src]] & (labels[g.src] == labels[g.dst])
    ti = np.flatnonzero(usable & in_main)
    return ModeGraph(
        csr=csr,
        csr_t=_with_virtual(csr[:n, :n].T.tocsr()),
        arc_edge=arc_edge,
        usable=usable,
        fwd_ok=fwd_ok,
        bwd_ok=bwd_ok,
        tree=shapely.STRtree(g.geoms[ti]),
        tree_idx=ti,
        max_w=float(w.max()) if len(w) else 0.0,
        arc_eidx=eidx,
    )


def _load_cameras_on_edges(session: Session, g: RoadGraph) -> None:
    exists = session.execute(text("select to_regclass('camera_edges') is not null")).scalar_one()
    if not exists:
        return
    rows = session.execute(
        text("""select ce.camera_id, ce.edge_id, ce.frac_from, ce.frac_to,
                       st_x(c.geom), st_y(c.geom)
                from camera_edges ce join cameras c on c.id = ce.camera_id""")
    ).all()
    for cam, edge, f0, f1, x, y in rows:
        i = g.edge_index.get(int(edge))
        if i is None:
            continue
        g.cameras_on_edge.setdefault(i, []).append((int(cam), float(f0), float(f1)))
        g.camera_xy[int(cam)] = (float(x), float(y))
    trip = sorted((i, c, f0, f1) for i, lst in g.cameras_on_edge.items() for c, f0, f1 in lst)
    trip = [(c, i, f0, f1) for i, c, f0, f1 in trip]
    if trip:
        g.ce_cam = np.array([t[0] for t in trip], dtype=np.int64)
        g.ce_edge = np.array([t[1] for t in trip], dtype=np.int64)
        g.ce_f0 = np.array([t[2] for t in trip], dtype=float)
        g.ce_f1 = np.array([t[3] for t in trip], dtype=float)
    g.ce_ptr = np.searchsorted(g.ce_edge, np.arange(len(g.edge_ids) + 1)).astype(np.int64)


# --------------------------------------------------------------------------- snapping


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


def _local_m(lon0: float, lat0: float) -> tuple[float, float]:
    return M_PER_DEG_LON_EQ * math.cos(math.radians(lat0)), M_PER_DEG_LAT


def snap(
    g: RoadGraph, *, lon: float, lat: float, mode: str, field: str, max_m: float = MAX_SNAP_M
) -> Snap:
    """Nearest usable edge for ``mode`` within ``max_m`` metres (measured locally in metres)."""
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"{field} is not a valid WGS84 coordinate", field=field)
    mg = g.modes[mode]
    kx, ky = _local_m(lon, lat)

    def to_m(c: np.ndarray) -> np.ndarray:
        return np.column_stack([(c[:, 0] - lon) * kx, (c[:, 1] - lat) * ky])

    origin = Point(0.0, 0.0)
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


# --------------------------------------------------------------------------- shortest paths


def _with_virtual(m: Any) -> Any:
    """``m`` (n x n CSR) plus a row/column n whose row holds two arcs, rewritten per query."""
    n, nnz = m.shape[0], m.nnz
    data = np.concatenate([m.data, [1e12, 1e12]])
    indices = np.concatenate([m.indices, [n, n]]).astype(np.int32)
    indptr = np.concatenate([m.indptr, [nnz + 2]]).astype(np.int32)
    out = csr_matrix((data, indices, indptr), shape=(n + 1, n + 1))
    out.has_sorted_indices = True
    return out


_search_lock = threading.Lock()
TREE_CACHE_SIZE = 512  # single-source trees kept per process (small graphs only)
_tree_cache: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}


def _search(
    csr: Any, starts: list[tuple[int, float]], limit: float
) -> tuple[np.ndarray, np.ndarray]:
    """One Dijkstra from several (node, start cost) at once, through the virtual node: returns
    (distance, predecessor) for the real nodes; predecessor -1 at a start node."""
    n = csr.shape[0] - 1
    opts = sorted(starts)[:2] or [(n, 1e12)]
    if len(opts) == 1:
        opts = opts * 2
    with _search_lock:  # the two virtual arcs are shared state
        csr.indices[-2:] = [opts[0][0], opts[1][0]]
        csr.data[-2:] = [max(opts[0][1], 1e-9), max(opts[1][1], 1e-9)]
        d, p = dijkstra(csr, directed=True, indices=n, limit=limit, return_predecessors=True)
    d, p = d[:n].copy(), p[:n].copy()
    p[p == n] = -1
    return d, p


def _bidirectional(
    mg: ModeGraph,
    sources: list[tuple[int, float]],
    targets: list[tuple[int, float]],
    r0: float,
) -> tuple[float, list[int]]:
    """Cheapest path from any (node, start cost) to any (node, end cost): (cost, node list).

    Forward search from the sources and backward search (transpose) from the targets, each
    limited to radius r; the best meeting arc is optimal once its cost <= 2r (every shorter path
    has an arc leaving the forward ball into the backward ball). r starts at half the
    straight-line time at top speed times DETOUR_FACTOR (usually enough for one round); once
    some meeting of cost c is known, r = c / 2 proves the answer in the next round. Graphs up to SMALL_GRAPH_NODES use one full search instead.
    """
    n = mg.csr.shape[0] - 1
    if not sources or not targets:
        raise Unreachable("no path on the road network between these places", field="to")
    if n <= SMALL_GRAPH_NODES:  # one full search beats the bidirectional bookkeeping here
        key = (id(mg.csr), tuple(sorted((int(a), round(float(c), 6)) for a, c in sources)))
        hit = _tree_cache.get(key)
        if hit is None:  # cached single-source trees: a camera is the origin of many hops
            hit = _search(mg.csr, sources, np.inf)
            _tree_cache[key] = hit
            if len(_tree_cache) > TREE_CACHE_SIZE:
                with contextlib.suppress(KeyError, StopIteration, RuntimeError):
                    _tree_cache.pop(next(iter(_tree_cache)))  # least recently used
        else:
            with contextlib.suppress(KeyError):  # most recently used last
                _tree_cache[key] = _tree_cache.pop(key)
        df, pf = hit
        costs = [(df[t] + c, t) for t, c in targets]
        best_c, t = min(costs)
        if not np.isfinite(best_c):
            raise Unreachable("no path on the road network between these places", field="to")
        return float(best_c), _walk_back(pf, t)[::-1]
    r = max(r0, 1.0)
    while True:
        df, pf = _search(mg.csr, sources, r)
        db, pb = _search(mg.csr_t, targets, r)
        best = np.inf
        meet: tuple[int, int] | None = None
        both = df + db
        k = int(np.argmin(both))
        if np.isfinite(both[k]):
            best, meet = float(both[k]), (k, -1)
        # arcs from the forward ball's frontier (only there can an arc leave the ball)
        fr = np.flatnonzero(np.isfinite(df) & (df > r - mg.max_w))
        if len(fr):
            ip = mg.csr.indptr
            starts, counts = ip[fr], ip[fr + 1] - ip[fr]
            tot = int(counts.sum())
            pos = np.arange(tot) - np.repeat(np.cumsum(counts) - counts, counts)
            pos += np.repeat(starts, counts)
            rows = np.repeat(fr, counts)
            cols = mg.csr.indices[pos]
            ok = cols < n
            rows, cols, pos = rows[ok], cols[ok], pos[ok]
            cost = df[rows] + mg.csr.data[pos] + db[cols]
            if len(cost):
                j = int(np.argmin(cost))
                if cost[j] < best:
                    best, meet = float(cost[j]), (int(rows[j]), int(cols[j]))
        reached_all = np.isfinite(df).sum() >= n or np.isfinite(db).sum() >= n
        if meet is not None and (best <= 2 * r or reached_all):
            break
        if reached_all or r > 1e9:
            raise Unreachable("no path on the road network between these places", field="to")
        # a meeting of cost best is proven optimal with radius best / 2: jump there at once
        r = best / 2 + 1e-6 if meet is not None else r * 1.5
    a, b = meet
    path = _walk_back(pf, a)[::-1]
    if b >= 0:
        path += _walk_back(pb, b)
    else:
        path += _walk_back(pb, a)[1:]
    return best, path


def _multi(
    csr: Any, starts: list[tuple[int, float]], limit: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Multi-source Dijkstra with start costs (a CSR with the virtual row): (distance, pred)."""
    return _search(csr, starts, limit)


def _walk_back(pred: np.ndarray, node: int) -> list[int]:
    out = [node]
    while pred[node] >= 0:
        node = int(pred[node])
        out.append(node)
    return out


# --------------------------------------------------------------------------- routes


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


def _edge_cost(g: RoadGraph, mode: str, e: int) -> float:
    v = WALK_SPEED_KPH if mode == "walk" else g.speed_kph[e]
    return float(g.length_m[e] / (v / 3.6))


def route(g: RoadGraph, *, start: Snap, end: Snap, mode: str) -> Route:
    """The cheapest route (walk: shortest, drive: fastest) between two snapped points."""
    mg = g.modes[mode]
    ea, fa, eb, fb = start.edge, start.frac, end.edge, end.frac
    ca, cb = _edge_cost(g, mode, ea), _edge_cost(g, mode, eb)
    sources: list[tuple[int, float]] = []
    if mg.fwd_ok[ea]:
        sources.append((int(g.dst[ea]), (1 - fa) * ca))
    if mg.bwd_ok[ea]:
        sources.append((int(g.src[ea]), fa * ca))
    targets: list[tuple[int, float]] = []
    if mg.fwd_ok[eb]:
        targets.append((int(g.src[eb]), fb * cb))
    if mg.bwd_ok[eb]:
        targets.append((int(g.dst[eb]), (1 - fb) * cb))
    # a point (within AT_NODE_M) at an end of its edge stands on that node, whatever the one-way
    la, lb = g.length_m[ea], g.length_m[eb]
    if not mg.bwd_ok[ea] and fa * la <= AT_NODE_M:
        sources.append((int(g.src[ea]), fa * ca))
    if not mg.fwd_ok[ea] and (1 - fa) * la <= AT_NODE_M:
        sources.append((int(g.dst[ea]), (1 - fa) * ca))
    if not mg.fwd_ok[eb] and fb * lb <= AT_NODE_M:
        targets.append((int(g.src[eb]), fb * cb))
    if not mg.bwd_ok[eb] and (1 - fb) * lb <= AT_NODE_M:
        targets.append((int(g.dst[eb]), (1 - fb) * cb))
    direct = np.inf
    if ea == eb and ((fb >= fa and mg.fwd_ok[ea]) or (fb <= fa and mg.bwd_ok[ea])):
        direct = abs(fb - fa) * ca
    # initial radius: half the straight-line distance at the mode's top speed
    dist = _haversine_m(start.lon, start.lat, end.lon, end.lat)
    top = WALK_SPEED_KPH if mode == "walk" else max(float(g.speed_kph.max()), 1.0)
    try:
        r0 = 0.5 * DETOUR_FACTOR * dist / (top / 3.6)
        cost, nodes = _bidirectional(mg, sources, targets, r0=r0)
    except Unreachable:
        if not np.isfinite(direct):
            raise Unreachable(
                f"no {mode} route from {start.field} to {end.field} on the road network",
                field=end.field,
            ) from None
        cost, nodes = np.inf, []
    pieces = [Piece(ea, fa, fb)] if direct <= cost else _pieces(g, mg, nodes, start, end)
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
    dedup = allc
    piece_m = np.array(pm, dtype=float)
    speed = np.array(ps, dtype=float)
    length = float(piece_m.sum())
    tt = float((piece_m / (speed / 3.6)).sum()) if len(pieces) else 0.0
    return Route(mode, pieces, length, tt, LineString(dedup), start, end, piece_m, speed)


def _haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(1.0, a)))


# --------------------------------------------------------------------------- speeds and windows


@dataclass(frozen=True)
class SpeedRange:
    """Plausible speeds for review windows: walking km/h, or driving relative to posted speeds."""

    mode: str
    min_kph: float
    max_kph: float

    @classmethod
    def for_mode(
        cls, mode: str, *, min_kph: float | None = None, max_kph: float | None = None
    ) -> SpeedRange:
        """Defaults: walk 3-7 km/h; drive DRIVE_SLOW_MIN_KPH..DRIVE_CAP_KPH (as clamps)."""
        if mode == "walk":
            lo, hi = WALK_SPEED_RANGE_KPH
        else:
            lo, hi = DRIVE_SLOW_MIN_KPH, DRIVE_CAP_KPH
        lo = lo if min_kph is None else float(min_kph)
        hi = hi if max_kph is None else float(max_kph)
        if not (0 < lo <= hi) or not math.isfinite(hi):
            raise InvalidInput(
                f"speed range must satisfy 0 < min_kph <= max_kph (got {lo}..{hi})",
                field="speed_range",
            )
        if hi > 400:
            raise InvalidInput("speed range max_kph above 400 km/h", field="speed_range.max_kph")
        return cls(mode, lo, hi)

    def fast(self, nominal_kph: np.ndarray) -> np.ndarray:
        """Fastest plausible speed per piece."""
        if self.mode == "walk":
            return np.full(len(nominal_kph), self.max_kph)
        return np.minimum(nominal_kph * DRIVE_FAST_FACTOR, self.max_kph)

    def slow(self, nominal_kph: np.ndarray) -> np.ndarray:
        """Slowest plausible speed per piece."""
        if self.mode == "walk":
            return np.full(len(nominal_kph), self.min_kph)
        return np.minimum(np.maximum(nominal_kph * DRIVE_SLOW_FACTOR, self.min_kph), self.max_kph)


def _cum_time(r: Route, speeds_kph: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(r.piece_m / (speeds_kph / 3.6))])


def time_at(r: Route, speeds_kph: np.ndarray, d_m: float) -> float:
    """Seconds to cover the first ``d_m`` metres of ``r`` at per-piece ``speeds_kph``."""
    return float(np.interp(d_m, r.cumulative_m(), _cum_time(r, speeds_kph)))


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


def clip_link(camera_id: int, start: dt.datetime, end: dt.datetime) -> str:
    """Playback link of a review window (served by the video API through the access gate)."""
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    t0 = start.astimezone(dt.UTC).replace(microsecond=0)
    t1 = end.astimezone(dt.UTC)
    if t1.microsecond:  # whole seconds, rounded outwards so the window is never cut short
        t1 = t1.replace(microsecond=0) + dt.timedelta(seconds=1)
    return f"/api/cameras/{camera_id}/clip.mp4?start={t0.strftime(fmt)}&end={t1.strftime(fmt)}"


def _window(camera_id: int, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    if end < start:
        start, end = end, start
    return {
        "expected_from": start.isoformat(),
        "expected_to": end.isoformat(),
        "review_s": round((end - start).total_seconds(), 1),
        "playback": clip_link(camera_id, start, end),
    }


# --------------------------------------------------------------------------- places


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


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}, not {mode!r}", field="mode")
    return mode


def _aware(t: dt.datetime | None, field: str) -> dt.datetime:
    if t is None:
        return dt.datetime.now(dt.UTC)
    if t.tzinfo is None:
        raise InvalidInput(
            f"{field} needs a time zone (e.g. 2026-05-01T14:02:00+09:00)", field=field
        )
    return t


# --------------------------------------------------------------------------- public API


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
    mode = _check_mode(mode)
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
        "from": _snap_dict(a),
        "to": _snap_dict(b),
        "geometry": shapely.geometry.mapping(r.geometry),
        "cameras_along": cams,
        "graph_version": g.version,
    }


def _snap_dict(s: Snap) -> dict[str, Any]:
    out: dict[str, Any] = {"lon": s.lon, "lat": s.lat, "snap_distance_m": round(s.offset_m, 1)}
    if s.camera_id is not None:
        out["camera_id"] = s.camera_id
    return out


def track(
    session: Session,
    *,
    sightings: list[tuple[int, dt.datetime]],
    mode: str = "walk",
    min_kph: float | None = None,
    max_kph: float | None = None,
) -> dict[str, Any]:
    """Reconstruct a trajectory from camera sightings: per hop the route, the speed it needs,
    whether that is feasible for the mode, and the cameras between with the minutes to review.

    A hop is feasible when its average speed is within the mode's cap (walk: WALK_RUN_CAP_KPH,
    a sustained run; drive: DRIVE_FAST_FACTOR x posted speeds, at most DRIVE_CAP_KPH). The window
    of a camera at distance d of a hop of length L between sightings t_a and t_b is
    [t_a + d / v_fast, t_b - (L - d) / v_fast]: the person cannot be there earlier nor later and
    still make both sightings, with v_fast the fastest plausible speed (or the required one).
    """
    mode = _check_mode(mode)
    if len(sightings) < 2:
        raise InvalidInput("a track needs at least two sightings", field="sightings")
    for i, (_cam, t) in enumerate(sightings):
        _aware(t, f"sightings.{i}.seen_at")
    for i in range(1, len(sightings)):
        if sightings[i][1] < sightings[i - 1][1]:
            raise InvalidInput("sightings must be in time order", field=f"sightings.{i}.seen_at")
    speeds = SpeedRange.for_mode(mode, min_kph=min_kph, max_kph=max_kph)
    g = get_graph(session)
    snaps = []
    for i, (cam, _t) in enumerate(sightings):
        snaps.append(
            place_snap(session, g, Place(camera_id=cam), mode=mode, field=f"sightings.{i}")
        )
    hops = []
    coords: list[tuple[float, float]] = []
    all_feasible = True
    for i in range(len(sightings) - 1):
        (ca, ta), (cb, tb) = sightings[i], sightings[i + 1]
        r = route(g, start=snaps[i], end=snaps[i + 1], mode=mode)
        dt_s = (tb - ta).total_seconds()
        required = (
            math.inf
            if dt_s <= 0 and r.length_m > 0
            else (r.length_m / dt_s * 3.6 if dt_s > 0 else 0.0)
        )
        fast = speeds.fast(r.piece_speed_kph)
        t_fast = time_at(r, fast, r.length_m)
        if mode == "walk":
            cap = WALK_RUN_CAP_KPH
            feasible = required <= cap
            reason = (
                None
                if feasible
                else f"{r.length_m:.0f} m in {dt_s:.0f} s needs {required:.1f} km/h on foot "
                f"(cap {cap:.0f} km/h, a sustained run)"
            )
            running = feasible and required > speeds.max_kph
        else:
            cap_t = time_at(
                r, np.minimum(r.piece_speed_kph * DRIVE_FAST_FACTOR, DRIVE_CAP_KPH), r.length_m
            )
            feasible = dt_s >= cap_t - 1e-6
            reason = (
                None
                if feasible
                else f"{r.length_m:.0f} m in {dt_s:.0f} s needs {required:.1f} km/h average; the fastest "
                f"plausible drive ({DRIVE_FAST_FACTOR:g}x posted speeds, at most "
                f"{DRIVE_CAP_KPH:.0f} km/h) takes {cap_t:.0f} s"
            )
            running = False
        all_feasible &= feasible
        # fastest plausible speed for the windows, at least the one the sightings require
        if mode == "walk":
            v_top = speeds.max_kph
            if math.isfinite(required):
                v_top = max(v_top, required)
            v_fast = np.full(len(fast), v_top)
        else:
            v_fast = fast * (max(1.0, t_fast / dt_s) if dt_s > 0 else 1.0)
        t_total_fast = time_at(r, v_fast, r.length_m)
        cams = []
        for c in cameras_along(g, r, exclude={ca, cb}):
            t0 = ta + dt.timedelta(seconds=time_at(r, v_fast, c.distance_along_m))
            t1 = tb - dt.timedelta(seconds=t_total_fast - time_at(r, v_fast, c.distance_until_m))
            if not feasible:
                t0, t1 = min(t0, t1), max(t0, t1)
            cams.append(
                {
                    "camera_id": c.camera_id,
                    "lon": c.lon,
                    "lat": c.lat,
                    "distance_along_m": round(c.distance_along_m, 1),
                    "distance_until_m": round(c.distance_until_m, 1),
                    **_window(c.camera_id, t0, max(t0, t1)),
                }
            )
        hop_coords = list(r.geometry.coords)
        coords.extend(hop_coords if not coords else hop_coords[1:])
        hops.append(
            {
                "from_camera_id": ca,
                "to_camera_id": cb,
                "from_seen_at": ta.isoformat(),
                "to_seen_at": tb.isoformat(),
                "elapsed_s": round(dt_s, 1),
                "length_m": round(r.length_m, 2),
                "travel_time_s": round(r.travel_time_s, 1),
                "travel_time_fastest_s": round(t_fast, 1),
                "required_speed_kph": None if not math.isfinite(required) else round(required, 2),
                "feasible": bool(feasible),
                "reason": reason,
                "requires_running": bool(running),
                "geometry": shapely.geometry.mapping(r.geometry),
                "cameras_between": cams,
            }
        )
    line = LineString(coords if len(coords) >= 2 else coords * 2)
    return {
        "mode": mode,
        "feasible": bool(all_feasible),
        "hops": hops,
        "length_m": round(sum(h["length_m"] for h in hops), 2),
        "geometry": shapely.geometry.mapping(line),
        "sightings": [
            {"camera_id": c, "seen_at": t.isoformat(), "lon": s.lon, "lat": s.lat}
            for (c, t), s in zip(sightings, snaps, strict=True)
        ],
        "graph_version": g.version,
    }


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
    mode = _check_mode(mode)
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
        "origin": _snap_dict(s),
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
    nominal = g.speed_kph if mode == "drive" else np.full(len(g.edge_ids), WALK_SPEED_KPH)
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


_scaled_cache: dict[tuple[int, int, str, float, float], Any] = {}


def _scaled(g: RoadGraph, mode: str, ratio: np.ndarray, speeds: SpeedRange) -> Any:
    """The mode's CSR with each arc's weight times its edge's ``ratio`` (cached per speeds)."""
    mg = g.modes[mode]
    key = (id(g), g.version, mode, speeds.min_kph, speeds.max_kph)
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
    kx, ky = _local_m(s.lon, s.lat)

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


__all__ = [
    "MODES",
    "CameraPass",
    "Place",
    "RoadGraph",
    "Route",
    "Snap",
    "SpeedRange",
    "build_graph",
    "cameras_along",
    "find_route",
    "get_graph",
    "reachable",
    "route",
    "snap",
    "track",
]
