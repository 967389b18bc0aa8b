"""The Python face of :mod:`geo.routing.kernel`: its arguments, packed once per mode graph.

A route's compiled call needs some fifty arrays (the graph, its hierarchy, the snapping grid, the
cameras on edges, the thread's scratch). Each array argument costs its share of the call's
dispatch (about 26 us for 54 of them right after a database call, a fifth of a Daejeon route),
so the graph's arrays are copied once per mode graph into three buffers (ints, floats, bools:
:data:`geo.routing.kernel.GI`, ``GF``, ``GB``), the hierarchy brings its own two
(``Prepared.pack_*``, views, no copy) and the scratch is two blocks: ten arrays a call.
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
    """(the grid's scalars, the packed arrays) of the mode's kernels, kept on ``mg`` until its
    hierarchy is swapped."""
    p = mg.prepared
    kept = mg.kernel_args
    if kept is not None and kept[0] is p:
        return kept[1], kept[2]
    assert mg.snap_grid is not None
    x0, y0, cw, chh, nx, ny, cell_ptr, cell_seg, seg_edge = mg.snap_grid
    have = {
        "src": g.src, "dst": g.dst, "arc_eidx": mg.arc_eidx, "xy_ptr": g.xy_ptr,
        "ce_ptr": g.ce_ptr, "ce_cam": g.ce_cam, "cell_ptr": cell_ptr, "cell_seg": cell_seg,
        "seg_edge": seg_edge, "indptr": mg.csr.indptr, "indices": mg.csr.indices,
        "cam_ids": g.cam_ids, "length_m": g.length_m, "cost_e": mg.cost_e,
        "speed_e": mg.speed_e, "ce_f0": g.ce_f0, "ce_f1": g.ce_f1,
        "cam_lon": g.cam_lonlat[:, 0], "cam_lat": g.cam_lonlat[:, 1],
        "fwd_ok": mg.fwd_ok, "bwd_ok": mg.bwd_ok, "arc_fwd": mg.arc_fwd,
    }  # fmt: skip
    scalars = (float(x0), float(y0), float(cw), float(chh), int(nx), int(ny))
    packed = (*kernel.pack_graph(have), g.xy_flat, p.pack_int, p.pack_float, p.pack_at)
    mg.kernel_args = (p, scalars, packed)
    return scalars, packed


def usable(mg: ModeGraph, use_prepared: bool) -> bool:
    """Whether the compiled calls can answer for this mode now (its hierarchy is ready)."""
    return use_prepared and mg.prepared is not None and mg.snap_grid is not None


def route_snapped(g: RoadGraph, mg: ModeGraph, a: Any, b: Any) -> Raw:
    """:func:`geo.routing.kernel.route_packed` between two :class:`~geo.routing.snap.Snap`."""
    _, packed = _args(g, mg)
    sc = _scratch(mg.prepared.n)
    return kernel.route_packed(  # type: ignore[call-arg]
        a.edge, a.frac, a.lon, a.lat, b.edge, b.frac, b.lon, b.lat, AT_NODE_M,
        *packed, sc.floats, sc.ints,
    )  # fmt: skip


def route_points(
    g: RoadGraph, mg: ModeGraph, a: tuple[float, float, float], b: tuple[float, float, float]
) -> Raw:
    """:func:`geo.routing.kernel.points_packed` between ``(lon, lat, metres per degree of
    longitude there)`` points, snapped by the one rule (:data:`MAX_SNAP_M`)."""
    scalars, packed = _args(g, mg)
    sc = _scratch(mg.prepared.n)
    return kernel.points_packed(  # type: ignore[call-arg]
        a[0], a[1], a[2], b[0], b[1], b[2], M_PER_DEG_LAT, MAX_SNAP_M, *scalars, AT_NODE_M,
        *packed, sc.floats, sc.ints,
    )  # fmt: skip
