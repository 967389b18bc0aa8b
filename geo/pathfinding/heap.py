# mypy: ignore-errors
# (numba kernels: plain arrays and scalars, typed by numba at compile time)
"""An indexed binary min-heap on arrays (numba): one slot per node, decrease-key, no garbage.

``keys``/``items`` hold the heap, ``pos[x]`` is node ``x``'s slot (-1: not in the heap). The
caller owns the arrays (size = number of nodes) and the current size; ``clear`` puts ``pos``
back to -1 for whatever is left, so the arrays can be reused by the next search.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _up(keys, items, pos, i):
    k, x = keys[i], items[i]
    while i > 0:
        p = (i - 1) >> 1
        if keys[p] <= k:
            break
        keys[i], items[i] = keys[p], items[p]
        pos[items[i]] = i
        i = p
    keys[i], items[i] = k, x
    pos[x] = i


@njit(cache=True, nogil=True)
def push(keys, items, pos, size, x, k):
    """Insert ``x`` with key ``k``, or lower its key to ``k``; returns the new size."""
    i = pos[x]
    if i < 0:
        i = size
        size += 1
        keys[i], items[i] = k, x
    elif k < keys[i]:
        keys[i] = k
    else:
        return size
    _up(keys, items, pos, i)
    return size


@njit(cache=True, nogil=True)
def pop(keys, items, pos, size):
    """Remove the minimum: (key, node, new size)."""
    k0, x0 = keys[0], items[0]
    pos[x0] = -1
    size -= 1
    if size > 0:
        k, x = keys[size], items[size]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= size:
                break
            if c + 1 < size and keys[c + 1] < keys[c]:
                c += 1
            if keys[c] >= k:
                break
            keys[i], items[i] = keys[c], items[c]
            pos[items[i]] = i
            i = c
        keys[i], items[i] = k, x
        pos[x] = i
    return k0, x0, size


@njit(cache=True, nogil=True)
def clear(items, pos, size):
    for i in range(size):
        pos[items[i]] = -1


def arrays(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fresh (keys, items, pos) for a graph of ``n`` nodes."""
    return np.empty(max(n, 1)), np.empty(max(n, 1), np.int64), np.full(max(n, 1), -1, np.int64)
