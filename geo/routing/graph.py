"""The road graph in memory: built from ``road_edges``, versioned by the load counter.

DESIGN decision 5: the graph is built once per database and kept in memory, versioned by
``max(data_loads.id)``. A request that finds the graph older than the database gets the graph it
has at once and starts a rebuild in a background thread (one at a time per database); the new
graph replaces the old one in a single assignment when it is ready, so a load of new roads never
makes a request wait. Only a request arriving with no graph at all builds it, once, under a lock
(its precomputed search structure then follows in the background, :mod:`geo.routing.search`).
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from geo.errors import Unreachable
from geo.routing.loads import known_version, read_version
from geo.routing.speeds import WALK_SPEED_KPH

log = logging.getLogger(__name__)

#: Snapping uses every (strongly) connected piece with at least this share of the largest one's
#: nodes: cut-off fragments of an extract are left out, separate areas (two cities) are kept.
MAIN_PIECE_SHARE = 0.1
WALK_EXCLUDED = frozenset({"motorway", "motorway_link"})

_serials = itertools.count(1)  # identity of a built graph for caches (never reused, unlike id())


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
    arc_fwd: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # CSR order
    serial: int = field(default_factory=lambda: next(_serials))
    prepared: Any = None  # precomputed search structure (geo.routing.search), built lazily
    cost_e: np.ndarray = field(default_factory=lambda: np.zeros(0))  # seconds per whole edge
    speed_e: np.ndarray = field(default_factory=lambda: np.zeros(0))  # nominal km/h per edge
    snap_grid: tuple[Any, ...] | None = None  # geo.routing.kernel.build_snap_grid's arrays
    kernel_args: tuple[Any, ...] | None = None  # geo.routing.compiled's, per hierarchy


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
    xy_flat: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # every edge's coords
    xy_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))  # edge -> rows
    # camera_edges as arrays: camera id, edge index, seen fractions
    ce_cam: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ce_edge: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ce_f0: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ce_f1: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ce_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))  # rows per edge
    cam_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # sorted
    cam_lonlat: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # per cam_ids
    serial: int = field(default_factory=lambda: next(_serials))

    def speed_ms(self, mode: str, *, walk_kph: float = WALK_SPEED_KPH) -> np.ndarray:
        """Nominal speed per edge in m/s for ``mode``."""
        if mode == "walk":
            return np.full(len(self.edge_ids), walk_kph / 3.6)
        return self.speed_kph / 3.6


# --------------------------------------------------------------------------- the cache

_cache: dict[str, RoadGraph] = {}  # database key -> the graph requests use
_lock = threading.Lock()  # the first build of a database's graph
_state_lock = threading.Lock()  # guards the three dicts below
_rebuilds: dict[str, threading.Thread] = {}  # database key -> its background rebuild
_asked: dict[str, int] = {}  # database key -> the version its last rebuild was started for
_engines: dict[str, Engine] = {}  # database key -> an engine a background rebuild can use


def graph_version(session: Session) -> int:
    """The load counter the graph is versioned by (0 when nothing was ever loaded).

    Kept in memory from ``NOTIFY goldentime_loads`` when the session would see just the
    committed state (:func:`geo.routing.loads.known_version`); else one round trip.
    """
    v = known_version(session)
    return read_version(session) if v is None else v


@lru_cache(maxsize=64)
def url_key(url: str) -> str:
    """The cache key of the database at ``url`` (the URL without its password)."""
    return make_url(url).render_as_string(hide_password=True)


def graph_key(session: Session) -> str:
    """The cache key of the database ``session`` talks to."""
    return str(session.get_bind().engine.url.render_as_string(hide_password=True))


def get_graph(session: Session, *, version: int | None = None) -> RoadGraph:
    """The in-memory graph for this database; never waits for a rebuild.

    With no graph yet it is built here (once, under a lock: concurrent first requests wait for
    that one build). When a load happened since the graph was built (``version``, read when not
    given, is newer), the current graph is returned and a rebuild starts in the background.
    """
    key = graph_key(session)
    if version is None:
        version = graph_version(session)
    g = _cache.get(key)
    if g is None:
        with _lock:
            g = _cache.get(key)
            if g is None:
                g = _build_current(session, version)
                _cache[key] = g
                _engines.setdefault(key, session.get_bind().engine)
                from geo.routing.search import prepare_in_background

                prepare_in_background(g)  # the plain searches answer until it is ready
                return g
    if g.version != version:
        _engines.setdefault(key, session.get_bind().engine)
        refresh_in_background(key, version=version)
    return g


def cached_graph(key: str, *, version: int) -> RoadGraph | None:
    """The graph held for database ``key`` without touching the database (``None`` if none);
    like :func:`get_graph`, a stale one is returned and rebuilt in the background."""
    g = _cache.get(key)
    if g is not None and g.version != version:
        refresh_in_background(key, version=version)
    return g


def graph_for_url(url: str) -> RoadGraph:
    """:func:`get_graph` on a session of its own (for callers without one: the async API)."""
    from geo.db import get_engine

    with Session(get_engine(url)) as s:
        g = get_graph(s)
        s.commit()  # a first build may have refreshed camera_edges
    return g


def refresh_in_background(key: str, *, version: int) -> threading.Thread | None:
    """Start rebuilding ``key``'s graph in a daemon thread, unless one is running or was
    already started for ``version``; returns the thread started (or ``None``)."""
    engine = _engines.get(key)
    if engine is None:
        return None
    with _state_lock:
        running = _rebuilds.get(key)
        if (running is not None and running.is_alive()) or _asked.get(key) == version:
            return None
        _asked[key] = version
        t = threading.Thread(
            target=_rebuild, args=(key, engine), name="road-graph-rebuild", daemon=True
        )
        _rebuilds[key] = t
        t.start()
    return t


def wait_for_rebuild(key: str | None = None, timeout: float | None = None) -> None:
    """Wait until the background rebuild of ``key`` (of every database when ``None``) ends."""
    with _state_lock:
        threads = [t for k, t in _rebuilds.items() if key is None or k == key]
    for t in threads:
        t.join(timeout)


def _rebuild(key: str, engine: Engine) -> None:
    """Build the graph of the committed database state and swap it in (one assignment)."""
    try:
        with Session(engine) as s:
            version = read_version(s)  # exactly the state this build reads
            old = _cache.get(key)
            if old is not None and old.version == version:
                return  # the load that asked for it is not committed (visible) yet
            g = _build_current(s, version)
            s.commit()  # camera_edges refreshed for this version, if it was stale
        from geo.routing.search import prepare

        prepare(g)  # the new graph goes into service fully precomputed
        _cache[key] = g
        log.info("road graph of %s rebuilt for load %d", key, version)
    except Exception:  # a failed rebuild leaves the previous graph in service
        log.exception("road graph rebuild of %s failed; the previous graph stays", key)


def _build_current(session: Session, version: int) -> RoadGraph:
    from geo.camera_edges import camera_edges_version, refresh_camera_edges

    if camera_edges_version(session) != version:
        refresh_camera_edges(session)  # a camera/building load moved the views
    return build_graph(session, version=version)


# --------------------------------------------------------------------------- building


def build_graph(session: Session, *, version: int = 0) -> RoadGraph:
    """Read ``road_nodes``/``road_edges`` (and ``camera_edges``) and build both mode graphs."""
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
    g.xy_flat = xy_all
    g.xy_ptr = np.searchsorted(owner, np.arange(len(g.edge_ids) + 1)).astype(np.int64)
    walk_ok = np.array([h not in WALK_EXCLUDED for h in g.highway], dtype=bool)
    g.modes["walk"] = _mode_graph(
        g, walk_ok, walk_ok, walk_ok, g.length_m / (WALK_SPEED_KPH / 3.6), walk_like=True
    )
    drive_ok = g.drivable & (g.speed_kph > 0)
    g.modes["drive"] = _mode_graph(
        g,
        drive_ok,
        drive_ok,
        drive_ok & ~g.oneway,
        g.length_m / np.maximum(g.speed_kph, 1e-6) * 3.6,
        walk_like=False,
    )
    _load_cameras_on_edges(session, g)
    return g


def with_virtual(m: Any) -> Any:
    """``m`` (n x n CSR) plus a row/column n whose row holds two arcs, rewritten per query."""
    n, nnz = m.shape[0], m.nnz
    data = np.concatenate([m.data, [1e12, 1e12]])
    indices = np.concatenate([m.indices, [n, n]]).astype(np.int32)
    indptr = np.concatenate([m.indptr, [nnz + 2]]).astype(np.int32)
    out = csr_matrix((data, indices, indptr), shape=(n + 1, n + 1))
    out.has_sorted_indices = True
    return out


def _mode_graph(
    g: RoadGraph,
    usable: np.ndarray,
    fwd_ok: np.ndarray,
    bwd_ok: np.ndarray,
    cost_s: np.ndarray,
    *,
    walk_like: bool,
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
    csr = with_virtual(csr)
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
    with np.errstate(divide="ignore"):  # edges not usable in the mode may have no speed
        cost_e = g.length_m / (np.where(walk_like, WALK_SPEED_KPH, g.speed_kph) / 3.6)
    speed_e = np.full(len(g.edge_ids), WALK_SPEED_KPH) if walk_like else g.speed_kph.astype(float)
    from geo.routing.kernel import build_snap_grid

    grid = (
        build_snap_grid(g.xy_flat, g.xy_ptr, ti) if len(g.xy_ptr) == len(g.edge_ids) + 1 else None
    )
    return ModeGraph(
        csr=csr,
        csr_t=with_virtual(csr[:n, :n].T.tocsr()),
        arc_edge=arc_edge,
        usable=usable,
        fwd_ok=fwd_ok,
        bwd_ok=bwd_ok,
        tree=shapely.STRtree(g.geoms[ti]),
        tree_idx=ti,
        max_w=float(w.max()) if len(w) else 0.0,
        arc_eidx=eidx,
        arc_fwd=fwd,
        cost_e=cost_e,
        speed_e=speed_e,
        snap_grid=grid,
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
    g.cam_ids = np.array(sorted(g.camera_xy), dtype=np.int64)
    g.cam_lonlat = np.array([g.camera_xy[c] for c in g.cam_ids.tolist()], float).reshape(-1, 2)
