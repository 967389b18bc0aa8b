"""The Python face of the contraction hierarchy: prepare once, then query many times.

Arrays in, arrays out; the loops are numba functions (``contract.py``, ``query.py``) that release
the GIL, so a rebuild in a background thread does not stop queries on the previous ``Prepared``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from geo.pathfinding import contract as _c
from geo.pathfinding import query as _q

Seeds = Sequence[tuple[int, float]]


class NoPath(Exception):
    """No path joins any of the sources to any of the targets."""


@dataclass(frozen=True)
class Prepared:
    """A contracted graph: upward and downward CSR graphs plus the arc pool for unpacking.

    Only numpy arrays and numbers: picklable, shareable between threads, read-only. Inside, a
    node is numbered by its rank in the contraction order (``rank``: input node -> inner
    number, ``node_of``: back): the top of the hierarchy, which nearly every search reaches, is
    one contiguous block of the arrays instead of scattered over them, so a query touches far
    fewer cache lines (half the query time on the 90k grid right after a database call).
    """

    n: int
    rank: np.ndarray  # input node -> inner number (its rank)
    up_ptr: np.ndarray
    up_head: np.ndarray
    up_w: np.ndarray
    up_eid: np.ndarray
    dn_ptr: np.ndarray
    dn_head: np.ndarray
    dn_w: np.ndarray
    dn_eid: np.ndarray
    eu: np.ndarray
    ev: np.ndarray
    ec1: np.ndarray
    ec2: np.ndarray
    arcs: int  # arcs of the input after dropping loops and parallel duplicates
    shortcuts: int
    build_s: float
    extra: dict[str, float] = field(default_factory=dict)
    node_of: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # inner -> input
    #: The integer arrays (:data:`PACK_INT` order) and the costs (``up_w``, ``dn_w``) as two
    #: buffers the fields above are views of, and where each starts (``pack_at``): a compiled
    #: caller takes three arguments instead of fourteen (each argument costs its dispatch).
    pack_int: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pack_float: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pack_at: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def nbytes(self) -> int:
        """Bytes held by the query structure (arrays owning their memory: the fields that are
        views of the packed buffers are counted once, in the buffers)."""
        arrays = [getattr(self, k) for k in self.__dataclass_fields__]
        return sum(int(a.nbytes) for a in arrays if isinstance(a, np.ndarray) and a.base is None)

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        """Pickled as its packed buffers (the views are made again on loading: a pickled view
        would come back as a copy of its own)."""
        views = set(PACK_INT) | set(PACK_FLOAT)
        state = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in views}
        return (_unpickle, (state,))


def _unpickle(state: dict[str, Any]) -> Prepared:
    at = state["pack_at"]
    ni = len(PACK_INT) + 1
    views = {k: state["pack_int"][at[j] : at[j + 1]] for j, k in enumerate(PACK_INT)}
    views |= {k: state["pack_float"][at[ni + j] : at[ni + j + 1]] for j, k in enumerate(PACK_FLOAT)}
    return Prepared(**state, **views)


#: Order of the integer arrays in ``Prepared.pack_int`` (then ``up_w``, ``dn_w`` in
#: ``pack_float``); ``pack_at`` holds the 13 + 3 boundaries.
PACK_INT = (
    "up_ptr", "up_head", "up_eid", "dn_ptr", "dn_head", "dn_eid",
    "eu", "ev", "ec1", "ec2", "rank", "node_of",
)  # fmt: skip
PACK_FLOAT = ("up_w", "dn_w")


def _packed(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays as views of two buffers, plus the buffers and their boundaries."""
    ints = [np.asarray(arrays[k], np.int64) for k in PACK_INT]
    floats = [np.asarray(arrays[k], np.float64) for k in PACK_FLOAT]
    at_i = np.concatenate([[0], np.cumsum([a.size for a in ints])]).astype(np.int64)
    at_f = np.concatenate([[0], np.cumsum([a.size for a in floats])]).astype(np.int64)
    pi = np.concatenate(ints) if ints else np.zeros(0, np.int64)
    pf = np.concatenate(floats) if floats else np.zeros(0)
    out: dict[str, np.ndarray] = {k: pi[at_i[j] : at_i[j + 1]] for j, k in enumerate(PACK_INT)}
    out |= {k: pf[at_f[j] : at_f[j + 1]] for j, k in enumerate(PACK_FLOAT)}
    return {**out, "pack_int": pi, "pack_float": pf, "pack_at": np.concatenate([at_i, at_f])}


def _csr(rows: np.ndarray, n: int, *cols: np.ndarray) -> tuple[np.ndarray, ...]:
    order = np.argsort(rows, kind="stable")
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    return (ptr, *(np.ascontiguousarray(c[order]) for c in cols))


def _arcs(
    indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)
    n = int(indptr.size - 1)
    m = int(indptr[-1]) if n >= 0 else 0
    if n < 0 or indices.size < m or w.size < m or np.any(np.diff(indptr) < 0):
        raise ValueError("indptr, indices and weights do not form a CSR graph")
    indices, w = indices[:m], w[:m]
    if m and (indices.min() < 0 or indices.max() >= n):
        raise ValueError("an arc points outside the graph")
    if m and not (np.all(np.isfinite(w)) and w.min() >= 0):
        raise ValueError("arc weights must be finite and >= 0")
    u = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    keep = u != indices
    u, v, w = u[keep], indices[keep], w[keep]
    order = np.lexsort((w, v, u))  # parallel arcs: the cheapest one stays
    u, v, w = u[order], v[order], w[order]
    first = np.ones(u.size, bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    return n, u[first], v[first], w[first]


def _symmetric(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> bool:
    """Every arc has its reverse at the same cost (arcs sorted by (u, v), no duplicates)."""
    back = np.lexsort((u, v))  # the same arcs sorted by (v, u)
    return bool(
        np.array_equal(v[back], u) and np.array_equal(u[back], v) and np.array_equal(w[back], w)
    )


def prepare(
    indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray, **tuning: float
) -> Prepared:
    """Contract a directed graph given as CSR arrays (weights >= 0, e.g. seconds or metres).

    ``tuning``: contraction knobs for benchmarks (see ``contract.params``; ``symmetric=0``
    turns off the pairwise decisions used when every arc has its reverse at the same cost);
    the defaults are the measured choice. ``Prepared.extra`` reports the work done (pops,
    highest degree, arcs scanned by witness searches) and whether the graph was symmetric.
    """
    t0 = time.perf_counter()
    n, u, v, w = _arcs(indptr, indices, weights)
    stats = np.zeros(8, np.int64)
    knobs = dict(tuning)
    use_symmetry = knobs.pop("symmetric", 1.0) > 0
    lim = _c.params(**knobs)
    lim[_c._SYM] = float(use_symmetry and _symmetric(u, v, w))
    rank, eu, ev, ew, ec1, ec2, ne = _c.contract(n, u, v, w, lim, stats)
    node_of = np.argsort(rank).astype(np.int64)
    eu, ev = rank[eu], rank[ev]  # the pool in inner numbers (= ranks)
    up = eu < ev
    eid = np.arange(ne, dtype=np.int64)
    up_ptr, up_head, up_w, up_eid = _csr(eu[up], n, ev[up], ew[up], eid[up])
    dn = ~up
    dn_ptr, dn_head, dn_w, dn_eid = _csr(ev[dn], n, eu[dn], ew[dn], eid[dn])
    packed = _packed(
        {
            "up_ptr": up_ptr,
            "up_head": up_head,
            "up_eid": up_eid,
            "up_w": up_w,
            "dn_ptr": dn_ptr,
            "dn_head": dn_head,
            "dn_eid": dn_eid,
            "dn_w": dn_w,
            "eu": eu,
            "ev": ev,
            "ec1": ec1,
            "ec2": ec2,
            "rank": rank,
            "node_of": node_of,
        }  # fmt: skip
    )
    return Prepared(
        n=n,
        **packed,
        arcs=int(u.size),
        shortcuts=int(ne - u.size),
        build_s=time.perf_counter() - t0,
        extra={
            "pops": float(stats[0]),
            "max_degree": float(stats[1]),
            "scanned": float(stats[3]),
            "scan_rejected": float(stats[4]),
            "scan_cheap": float(stats[5]),
            "symmetric": float(lim[_c._SYM]),
        },
    )


class _Scratch:
    """Per-thread work arrays of one graph size (kept clean by every search)."""

    def __init__(self, n: int) -> None:
        self.n = n
        # two blocks, the arrays views of their rows (a compiled caller takes the two blocks):
        # costs forward / backward, heap keys f / b; parents f / b, touched f / b, heap items
        # f / b and heap slots f / b (-1: not queued)
        self.floats = np.full((4, n), np.inf)
        self.ints = np.full((8, n), -1, np.int64)
        self.df, self.db, self.hk = self.floats[0], self.floats[1], self.floats[2:4]
        self.pf, self.pb, self.tf, self.tb = self.ints[0], self.ints[1], self.ints[2], self.ints[3]
        self.hx = self.ints[4:8]
        self.out_d = np.empty(n, np.float64)
        self.b_first = np.zeros(n, np.int64)
        self.b_count = np.zeros(n, np.int64)


_local = threading.local()


def _scratch(n: int) -> _Scratch:
    s: _Scratch | None = getattr(_local, "scratch", None)
    if s is None or s.n != n:
        s = _Scratch(n)
        _local.scratch = s
    return s


def _seeds(p: Prepared, seeds: Seeds, name: str) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(seeds, dtype=np.float64).reshape(-1, 2)
    nodes, costs = arr[:, 0].astype(np.int64), np.ascontiguousarray(arr[:, 1])
    if nodes.size and (
        nodes.min() < 0 or nodes.max() >= p.n or not np.array_equal(nodes, arr[:, 0])
    ):
        raise ValueError(f"{name}: node outside the graph")
    if costs.size and not (np.isfinite(costs).all() and costs.min() >= 0):
        raise ValueError(f"{name}: costs must be finite and >= 0")
    return p.rank[nodes], costs


def one_to_one(p: Prepared, sources: Seeds, targets: Seeds) -> tuple[float, np.ndarray]:
    """Cheapest path from any (node, start cost) to any (node, end cost): (cost, node path).

    The cost includes the start and end costs; the path runs from a source node to a target
    node (one node when they coincide). Raises :class:`NoPath` when none exists.
    """
    sn, sc = _seeds(p, sources, "sources")
    tn, tc = _seeds(p, targets, "targets")
    if not sn.size or not tn.size:
        raise NoPath("no sources or no targets")
    s = _scratch(p.n)
    best, path = _q.route(
        sn, sc, tn, tc,
        p.up_ptr, p.up_head, p.up_w, p.up_eid, p.dn_ptr, p.dn_head, p.dn_w, p.dn_eid,
        p.eu, p.ev, p.ec1, p.ec2, s.df, s.db, s.pf, s.pb, s.tf, s.tb, s.hk, s.hx,
    )  # fmt: skip
    if not path.size:
        raise NoPath("no path between the sources and the targets")
    return float(best), p.node_of[path]


def _flat(p: Prepared, seed_sets: Sequence[Seeds], name: str) -> tuple[np.ndarray, ...]:
    ptr = np.zeros(len(seed_sets) + 1, np.int64)
    nodes, costs = [], []
    for i, ss in enumerate(seed_sets):
        a, c = _seeds(p, ss, f"{name}[{i}]")
        nodes.append(a)
        costs.append(c)
        ptr[i + 1] = ptr[i] + a.size
    return (
        ptr,
        np.concatenate(nodes) if nodes else np.empty(0, np.int64),
        np.concatenate(costs) if costs else np.empty(0),
    )


def many_to_many(
    p: Prepared, sources_list: Sequence[Seeds], targets_list: Sequence[Seeds]
) -> np.ndarray:
    """Cost matrix (len(sources_list) x len(targets_list)), ``inf`` where there is no path.

    Each entry of the lists is one place: up to a few (node, cost) pairs. Bucket-based: one
    upward search per place, never a search per pair.
    """
    sp, sn, sc = _flat(p, sources_list, "sources")
    tp, tn, tc = _flat(p, targets_list, "targets")
    s = _scratch(p.n)
    return _q.many_to_many(
        sp, sn, sc, tp, tn, tc,
        p.up_ptr, p.up_head, p.up_w, p.dn_ptr, p.dn_head, p.dn_w,
        s.df, s.pf, s.tf, s.tb, s.out_d, s.b_first, s.b_count,
    )  # fmt: skip


def one_to_many(p: Prepared, sources: Seeds, targets_list: Sequence[Seeds]) -> np.ndarray:
    """Costs from one place (its (node, cost) pairs) to each target place; ``inf`` if none."""
    return many_to_many(p, [sources], targets_list)[0]
