"""A route's node path to arcs and coordinates, in compiled loops (numba).

:func:`path_arcs` finds each consecutive node pair's arc in the mode's CSR (one short row scan
per node: the arcs of a mode are unique per ``(u, v)``, so the row holds exactly one match).
:func:`gather_coords` copies whole edges' coordinates from ``RoadGraph.xy_flat`` in travel
order (reversed for an edge travelled target -> source) without the index arrays numpy needs.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def path_arcs(indptr: np.ndarray, indices: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Per consecutive pair ``(path[i], path[i + 1])``, its arc's position in the CSR (-1 when
    there is none, which a search never returns)."""
    out = np.full(max(path.size - 1, 0), -1, np.int64)
    for i in range(path.size - 1):
        u, v = path[i], path[i + 1]
        for k in range(indptr[u], indptr[u + 1]):
            if indices[k] == v:
                out[i] = k
                break
    return out


@njit(cache=True, nogil=True)
def gather_coords(
    xy_flat: np.ndarray, xy_ptr: np.ndarray, edges: np.ndarray, fwd: np.ndarray
) -> np.ndarray:
    """The coordinates of whole edges one after another, each forward or reversed."""
    tot = 0
    for i in range(edges.size):
        tot += xy_ptr[edges[i] + 1] - xy_ptr[edges[i]]
    out = np.empty((tot, 2))
    j = 0
    for i in range(edges.size):
        a, b = xy_ptr[edges[i]], xy_ptr[edges[i] + 1]
        for r in range(b - a):
            src = a + r if fwd[i] else b - 1 - r
            out[j, 0] = xy_flat[src, 0]
            out[j, 1] = xy_flat[src, 1]
            j += 1
    return out


def warm() -> None:
    """Compile (or load from numba's cache) both kernels off the request path."""
    p = np.array([0, 1], np.int64)
    for t in (np.int32, np.int64):  # scipy's CSR index type: int32 up to 2**31 arcs
        path_arcs(np.array([0, 1, 1], t), np.array([1], t), p)
    gather_coords(np.zeros((2, 2)), np.array([0, 2], np.int64), p[:1], np.ones(1, np.bool_))
