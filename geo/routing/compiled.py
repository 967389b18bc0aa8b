"""The Python face of :mod:`geo.routing.kernel`: the arguments, kept once per mode graph.

A route's compiled call takes about fifty arrays (the graph, its hierarchy, the snapping grid,
the cameras on edges, the thread's scratch). Gathering them costs more than the call's own
dispatch, so the unchanging ones are kept as two tuples per mode graph (made on first use,
remade when the hierarchy is swapped); only the per-thread scratch is looked up per call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from geo.pathfinding.engine import _scratch
from geo.routing import kernel
from geo.routing.snap import AT_NODE_M, M_PER_DEG_LAT, MAX_SNAP_M

if TYPE_CHECKING:
    from geo.routing.graph import ModeGraph, RoadGraph

Raw = tuple[Any, ...]


def _args(g: RoadGraph, mg: ModeGraph) -> tuple[Raw, Raw]:
    """(arguments before the scratch, after it) of the mode's route kernel, kept on ``mg``."""
    p = mg.prepared
    kept = mg.kernel_args
    if kept is not None and kept[0] is p:
        return kept[1], kept[2]
    pre = (
        g.length_m, mg.cost_e, g.src, g.dst, mg.fwd_ok, mg.bwd_ok, AT_NODE_M,
        p.up_ptr, p.up_head, p.up_w, p.up_eid, p.dn_ptr, p.dn_head, p.dn_w, p.dn_eid,
        p.eu, p.ev, p.ec1, p.ec2, p.rank, p.node_of,
    )  # fmt: skip
    post = (
        mg.csr.indptr, mg.csr.indices, mg.arc_eidx, mg.arc_fwd, g.xy_flat, g.xy_ptr,
        g.ce_ptr, g.ce_cam, g.ce_f0, g.ce_f1,
    )  # fmt: skip
    mg.kernel_args = (p, pre, post)
    return pre, post


def _scratch_of(mg: ModeGraph) -> Raw:
    sc = _scratch(mg.prepared.n)
    return (sc.df, sc.db, sc.pf, sc.pb, sc.tf, sc.tb, sc.hk, sc.hx)


def usable(mg: ModeGraph, use_prepared: bool) -> bool:
    """Whether the compiled calls can answer for this mode now (its hierarchy is ready)."""
    return use_prepared and mg.prepared is not None and mg.snap_grid is not None


def route_snapped(g: RoadGraph, mg: ModeGraph, a: Any, b: Any) -> Raw:
    """:func:`geo.routing.kernel.route_kernel` between two :class:`~geo.routing.snap.Snap`."""
    pre, post = _args(g, mg)
    return kernel.route_kernel(
        a.edge, a.frac, a.lon, a.lat, b.edge, b.frac, b.lon, b.lat, *pre, *_scratch_of(mg), *post
    )


def route_points(
    g: RoadGraph, mg: ModeGraph, a: tuple[float, float, float], b: tuple[float, float, float]
) -> Raw:
    """:func:`geo.routing.kernel.points_kernel` between ``(lon, lat, metres per degree of
    longitude there)`` points, snapped by the one rule (:data:`MAX_SNAP_M`)."""
    pre, post = _args(g, mg)
    grid = mg.snap_grid
    assert grid is not None  # usable() said so
    return kernel.points_kernel(
        a[0], a[1], a[2], b[0], b[1], b[2], M_PER_DEG_LAT, MAX_SNAP_M, *grid,
        *pre, *_scratch_of(mg), *post,
    )  # fmt: skip
