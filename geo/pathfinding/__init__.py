"""Shortest paths on a directed graph given as CSR arrays: contraction hierarchies in numba.

A pure array package (no SQL, no database, no ``geo.routing`` import): the road-distance engine
(``geo/routing/``) builds the arrays and maps the results back to edges and places.

API
---
``prepare(indptr, indices, weights) -> Prepared``
    Contract the graph (``n = indptr.size - 1`` nodes; arc ``i -> indices[k]`` of cost
    ``weights[k]`` for ``k in range(indptr[i], indptr[i + 1])``; costs finite and >= 0, seconds or
    metres). Loops are dropped, of parallel arcs the cheapest stays, zero costs are fine.
    ``Prepared`` holds numpy arrays only (picklable, read-only, shared by threads); the numba loops
    release the GIL, so a rebuild in a background thread does not stop queries on the old one.
``one_to_one(p, sources, targets) -> (cost, node_path)``
    ``sources``/``targets``: a few ``(node, cost)`` pairs each (a snapped point is up to two: the
    ends of its edge with the cost of the part of the edge to cover). ``cost`` includes the start
    and end costs; ``node_path`` (int64 array) runs from a source node to a target node, every
    consecutive pair an input arc. Raises :class:`NoPath`.
``one_to_many(p, sources, targets_list) -> np.ndarray``
    Costs from one place to each place of ``targets_list`` (``inf``: no path).
``many_to_many(p, sources_list, targets_list) -> np.ndarray``
    Matrix ``len(sources_list) x len(targets_list)`` (bucket-based: one upward search per place).

Bad input (node outside the graph, negative or non-finite costs) raises ``ValueError``.

The first call in a fresh process loads the compiled code from numba's cache (``cache=True``,
``__pycache__`` next to these files), or compiles it (about half a minute) if there is none.
"""

from geo.pathfinding.engine import (
    NoPath,
    Prepared,
    many_to_many,
    one_to_many,
    one_to_one,
    prepare,
)

__all__ = ["NoPath", "Prepared", "many_to_many", "one_to_many", "one_to_one", "prepare"]
