# mypy: ignore-errors
# (numba kernel: plain arrays and scalars, typed by numba at compile time)
"""One-to-many Dijkstra that stops as soon as every target is proven (numba).

The nearest-camera ranking asks one place against its 5-50 nearest cameras, a few hundred
metres away. A plain Dijkstra from the place settles nodes in order of cost; once the cost of
the node it settles is at least the best cost known for every target (``d[node] + end cost``
over the target's ends), no unsettled node can improve any of them, so it stops there. One
search, no radius to guess: the radius-doubling scipy searches this replaces ran 1-5 rounds
per request (2 on average on the Daejeon network), each a whole scipy call with its input
checks; the answer is the same (costs summed along the same arcs in the same order).

Scratch arrays (distances, the heap) are kept per graph in a small free list and left clean by
each search, so a query touches only the nodes it settles.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import njit

from geo.pathfinding import heap

#: Start costs are at least this (the scipy searches' virtual arcs had the same floor).
MIN_START_COST = 1e-9


@njit(cache=True, nogil=True)
def _one_to_many(
    indptr,
    indices,
    weights,
    s_node,
    s_cost,
    t_node,
    t_cost,
    t_of,
    n_targets,
    dist,
    keys,
    items,
    pos,
    touched,
):
    """Costs to each target (inf: unreachable); ``dist`` is left all inf again."""
    best = np.full(n_targets, np.inf)
    n_touched = 0
    size = 0
    for i in range(s_node.size):
        x = s_node[i]
        c = s_cost[i]
        if c < dist[x]:
            if dist[x] == np.inf:
                touched[n_touched] = x
                n_touched += 1
            dist[x] = c
            size = heap.push(keys, items, pos, size, x, c)
    bound = np.inf  # the largest best cost over the targets, once all are finite
    left = n_targets  # targets without a finite cost yet
    while size > 0:
        k, u, size = heap.pop(keys, items, pos, size)
        if left == 0 and k >= bound:
            break
        for j in range(t_node.size):
            if t_node[j] == u:
                c = k + t_cost[j]
                t = t_of[j]
                if c < best[t]:
                    if best[t] == np.inf:
                        left -= 1
                    best[t] = c
        if left == 0:
            bound = best.max()
            if k >= bound:
                break
        for a in range(indptr[u], indptr[u + 1]):
            v = indices[a]
            if v >= dist.size:
                continue  # the spare virtual row of the CSR
            nd = k + weights[a]
            if nd < dist[v]:
                if dist[v] == np.inf:
                    touched[n_touched] = v
                    n_touched += 1
                dist[v] = nd
                size = heap.push(keys, items, pos, size, v, nd)
    heap.clear(items, pos, size)
    for i in range(n_touched):
        dist[touched[i]] = np.inf
    return best


#: Scratch sets (dist, keys, items, pos, touched) not in use, by graph: as many as searches ran
#: at once, not one per thread (a 250k-node graph's set is 10 MB).
_free: dict[Any, list[tuple[np.ndarray, ...]]] = {}
_free_lock = threading.Lock()
#: Graphs whose scratch sets are kept (older ones are dropped: a rebuilt graph replaces them).
_KEEP_GRAPHS = 4


def _take(key: Any, n: int) -> tuple[np.ndarray, ...]:
    """A scratch set for a graph of ``n`` nodes: distances all inf, the heap empty."""
    with _free_lock:
        sets = _free.get(key)
        if sets:
            return sets.pop()
    keys, items, pos = heap.arrays(n)
    return np.full(max(n, 1), np.inf), keys, items, pos, np.empty(max(n, 1), np.int64)


def _give(key: Any, scratch: tuple[np.ndarray, ...]) -> None:
    """Return a scratch set (the kernel left it clean) for the next search on that graph."""
    with _free_lock:
        if key not in _free and len(_free) >= _KEEP_GRAPHS:
            _free.clear()
        _free.setdefault(key, []).append(scratch)


def one_to_many(
    csr: Any,
    key: Any,
    sources: Sequence[tuple[int, float]],
    targets: Sequence[Sequence[tuple[int, float]]],
) -> np.ndarray:
    """Cheapest cost from the sources (up to two ``(node, start cost)``, like the scipy searches)
    to each target (its ``(node, end cost)`` ends), inf where unreachable. ``csr`` is a mode
    graph's CSR with its spare virtual last row (never entered); ``key`` names the graph for the
    scratch arrays."""
    n = csr.shape[0] - 1
    starts = sorted(sources)[:2]
    s_node = np.array([a for a, _ in starts], np.int64)
    s_cost = np.array([max(float(c), MIN_START_COST) for _, c in starts])
    t_node = np.array([t for ends in targets for t, _ in ends], np.int64)
    t_cost = np.array([float(c) for ends in targets for _, c in ends])
    t_of = np.array([i for i, ends in enumerate(targets) for _ in ends], np.int64)
    scratch = _take(key, n)
    out = _one_to_many(
        csr.indptr,
        csr.indices,
        csr.data,
        s_node,
        s_cost,
        t_node,
        t_cost,
        t_of,
        len(targets),
        *scratch,
    )
    _give(key, scratch)  # not on an exception: a set a failed search may have left dirty is dropped
    return out


def warm() -> None:
    """Compile (or load from numba's cache) the kernel off the request path (api.warmup)."""
    from scipy.sparse import csr_matrix

    # nodes 0 -> 1 -> 2 plus the spare virtual row 3, as a mode graph's CSR has it
    csr = csr_matrix(([1.0, 2.0], ([0, 1], [1, 2])), shape=(4, 4))
    one_to_many(csr, ("warm-up",), [(0, 0.0)], [[(1, 0.0)], [(2, 0.5)]])
