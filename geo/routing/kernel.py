# mypy: ignore-errors
# (numba kernels: plain arrays and scalars, typed by numba at compile time)
"""A whole route in compiled code: snapping, the hierarchy's search, pieces, geometry, cameras.

On the 3k-node city networks a route's search through the contraction hierarchy takes tens of
microseconds; what cost the time was Python around it (shapely snapping, the end arcs, the
pieces, the geometry, the cameras along: about 0.3 ms warm). These kernels do the same work
with the same rules in one or two numba calls:

- :func:`snap_point` is the one snapping rule of :mod:`geo.routing.snap` over a uniform grid of
  the usable edges' segments (:func:`build_snap_grid`): growing boxes from 40 m to the limit,
  distance measured in the local metre frame of the point, the nearest edge (lowest index on a
  tie) and the point's normalised position along it (``line_locate_point`` in that frame).
- :func:`route_kernel` takes two snapped places, makes their end arcs
  (:func:`geo.routing.snap.snap_ends`' rule), runs the hierarchy's one-to-one query, turns the
  node path into pieces (edge, from, to), cuts the partial end pieces as ``shapely.ops.substring``
  does (normalised length in degrees), gathers whole edges' coordinates and finds the cameras
  along (:func:`geo.routing.along.along_kernel`).

The Python in :mod:`geo.routing.routes` turns the arrays into the answer; it keeps the plain
scipy searches for graphs whose hierarchy is not built yet.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from geo.pathfinding import query as chq
from geo.routing.along import along_kernel
from geo.routing.snap import M_PER_DEG_LAT, M_PER_DEG_LON_EQ

CELL_M = 100.0  # snap grid cell side (metres at the network's middle latitude)
MAX_CELLS = 4_000_000  # cells are widened until the grid has at most this many

# route_kernel status codes
OK, NO_PATH, FALLBACK, SNAP_FROM, SNAP_TO = 0, 1, 2, 3, 4


# --------------------------------------------------------------------------- snapping


@njit(cache=True, nogil=True)
def _fill_cells(sx0, sy0, sx1, sy1, x0, y0, cw, chh, nx, ny, rows):
    """(cell, segment row) pairs of every segment's bbox cells, sorted by cell."""
    tot = 0
    for i in range(rows.size):
        ix0 = min(max(int((sx0[i] - x0) / cw), 0), nx - 1)
        ix1 = min(max(int((sx1[i] - x0) / cw), 0), nx - 1)
        iy0 = min(max(int((sy0[i] - y0) / chh), 0), ny - 1)
        iy1 = min(max(int((sy1[i] - y0) / chh), 0), ny - 1)
        tot += (ix1 - ix0 + 1) * (iy1 - iy0 + 1)
    cell = np.empty(tot, np.int64)
    seg = np.empty(tot, np.int64)
    k = 0
    for i in range(rows.size):
        ix0 = min(max(int((sx0[i] - x0) / cw), 0), nx - 1)
        ix1 = min(max(int((sx1[i] - x0) / cw), 0), nx - 1)
        iy0 = min(max(int((sy0[i] - y0) / chh), 0), ny - 1)
        iy1 = min(max(int((sy1[i] - y0) / chh), 0), ny - 1)
        for ix in range(ix0, ix1 + 1):
            for iy in range(iy0, iy1 + 1):
                cell[k] = ix * ny + iy
                seg[k] = rows[i]
                k += 1
    order = np.argsort(cell, kind="mergesort")
    return cell[order], seg[order]


def build_snap_grid(xy_flat: np.ndarray, xy_ptr: np.ndarray, edges: np.ndarray) -> tuple:
    """The usable ``edges``' segments in a uniform lon/lat grid: ``(x0, y0, cw, ch, nx, ny,
    cell_ptr, cell_seg, seg_edge)``; ``cell_seg`` holds a segment's first row in ``xy_flat``
    (the segment runs to the next row), ``seg_edge`` that row's edge (-1: not a segment start
    of a usable edge)."""
    seg_edge = np.full(max(len(xy_flat), 1), -1, np.int64)
    edges = np.asarray(edges, np.int64)
    counts = np.maximum(xy_ptr[edges + 1] - xy_ptr[edges] - 1, 0)
    first = np.cumsum(counts) - counts
    rows = (
        np.repeat(xy_ptr[edges], counts) + np.arange(int(counts.sum())) - np.repeat(first, counts)
    )
    rows = rows.astype(np.int64)
    seg_edge[rows] = np.repeat(edges, counts)
    if not rows.size:
        return (0.0, 0.0, 1.0, 1.0, 1, 1, np.zeros(2, np.int64), rows, seg_edge)
    a, b = xy_flat[rows], xy_flat[rows + 1]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    x0, y0 = float(lo[:, 0].min()), float(lo[:, 1].min())
    x1, y1 = float(hi[:, 0].max()), float(hi[:, 1].max())
    kx = M_PER_DEG_LON_EQ * max(math.cos(math.radians(0.5 * (y0 + y1))), 0.01)
    cw, chh = CELL_M / kx, CELL_M / M_PER_DEG_LAT
    while ((x1 - x0) / cw + 1) * ((y1 - y0) / chh + 1) > MAX_CELLS:
        cw, chh = 2 * cw, 2 * chh
    nx, ny = int((x1 - x0) / cw) + 1, int((y1 - y0) / chh) + 1
    cell, seg = _fill_cells(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1], x0, y0, cw, chh, nx, ny, rows)
    cell_ptr = np.searchsorted(cell, np.arange(nx * ny + 1)).astype(np.int64)
    return (x0, y0, cw, chh, nx, ny, cell_ptr, seg, seg_edge)


@njit(cache=True, nogil=True)
def _seg_dist(ax, ay, bx, by):
    """Distance from the origin to segment a-b and the origin's projection factor along it,
    computed as GEOS does (``Distance::pointToSegment``, ``LineSegment::projectionFactor``)."""
    if ax == bx and ay == by:
        return math.sqrt(ax * ax + ay * ay), 0.0
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    r = ((0.0 - ax) * dx + (0.0 - ay) * dy) / len2
    if r <= 0.0:
        return math.sqrt(ax * ax + ay * ay), r
    if r >= 1.0:
        return math.sqrt(bx * bx + by * by), r
    s = ((ay - 0.0) * dx - (ax - 0.0) * dy) / len2
    return abs(s) * math.sqrt(len2), r


@njit(cache=True, nogil=True)
def _nearest_in_box(lon, lat, kx, ky, r, x0, y0, cw, chh, nx, ny, cell_ptr, cell_seg, seg_edge, xy):
    """Nearest segment among the grid cells meeting the box of ``r`` metres: (distance, edge,
    candidates seen)."""
    bx0 = min(max(int((lon - r / kx - x0) / cw), 0), nx - 1)
    bx1 = min(max(int((lon + r / kx - x0) / cw), 0), nx - 1)
    by0 = min(max(int((lat - r / ky - y0) / chh), 0), ny - 1)
    by1 = min(max(int((lat + r / ky - y0) / chh), 0), ny - 1)
    best, best_e, seen = np.inf, -1, 0
    if lon + r / kx < x0 or lat + r / ky < y0 or lon - r / kx > x0 + nx * cw:
        return best, best_e, seen
    if lat - r / ky > y0 + ny * chh:
        return best, best_e, seen
    for ix in range(bx0, bx1 + 1):
        for k in range(cell_ptr[ix * ny + by0], cell_ptr[ix * ny + by1 + 1]):
            j = cell_seg[k]
            seen += 1
            ax, ay = (xy[j, 0] - lon) * kx, (xy[j, 1] - lat) * ky
            bx, by = (xy[j + 1, 0] - lon) * kx, (xy[j + 1, 1] - lat) * ky
            d, _ = _seg_dist(ax, ay, bx, by)
            e = seg_edge[j]
            if d < best or (d == best and e < best_e):
                best, best_e = d, e
    return best, best_e, seen


@njit(cache=True, nogil=True)
def _locate(lon, lat, kx, ky, a, b, xy):
    """Normalised position along the polyline ``xy[a:b]`` of the nearest point to (lon, lat),
    in the local metre frame, as GEOS' ``project`` finds it (the first nearest segment)."""
    best, measure, start = np.inf, 0.0, 0.0
    for j in range(a, b - 1):
        ax, ay = (xy[j, 0] - lon) * kx, (xy[j, 1] - lat) * ky
        bx, by = (xy[j + 1, 0] - lon) * kx, (xy[j + 1, 1] - lat) * ky
        d, r = _seg_dist(ax, ay, bx, by)
        seg = math.sqrt((bx - ax) * (bx - ax) + (by - ay) * (by - ay))
        if d < best:
            best = d
            if r <= 0.0:
                measure = start
            elif r <= 1.0:
                measure = start + r * seg
            else:
                measure = start + seg
        start += seg
    if start <= 0.0:
        return 0.0
    return measure / start


@njit(cache=True, nogil=True)
def snap_point(
    lon, lat, kx, ky, max_m, x0, y0, cw, chh, nx, ny, cell_ptr, cell_seg, seg_edge, xy, xy_ptr
):
    """(edge, fraction, metres off the road); edge -1 when nothing is within ``max_m``.
    ``kx``/``ky``: metres per degree at the point (:func:`geo.routing.snap.local_m_per_deg`)."""
    r = min(40.0, max_m)
    while True:
        d, e, _ = _nearest_in_box(
            lon, lat, kx, ky, r, x0, y0, cw, chh, nx, ny, cell_ptr, cell_seg, seg_edge, xy
        )
        if e >= 0 and d <= r:
            return e, _locate(lon, lat, kx, ky, xy_ptr[e], xy_ptr[e + 1], xy), d
        if r >= max_m:
            return -1, 0.0, d
        r = min(r * 4.0, max_m)


# --------------------------------------------------------------------------- the route


@njit(cache=True, nogil=True)
def _ends(e, f, length, cost, src, dst, ok_dst, ok_src, at_node_m):
    """A snapped point's end arcs (``snap_ends``): up to two (node, cost), count."""
    nodes = np.empty(2, np.int64)
    costs = np.empty(2)
    k = 0
    if ok_dst or (1.0 - f) * length <= at_node_m:
        nodes[k], costs[k] = dst, (1.0 - f) * cost
        k += 1
    if ok_src or f * length <= at_node_m:
        nodes[k], costs[k] = src, f * cost
        k += 1
    return nodes[:k], costs[:k]


@njit(cache=True, nogil=True)
def _interp(xy, a, b, dist):
    """GEOS ``interpolate`` at ``dist`` (degrees) along ``xy[a:b]`` (``LengthLocationMap``,
    ``pointAlongSegmentByFraction``)."""
    cum = 0.0
    for j in range(a, b - 1):
        dx, dy = xy[j, 0] - xy[j + 1, 0], xy[j, 1] - xy[j + 1, 1]
        seg = math.sqrt(dx * dx + dy * dy)
        if cum + seg > dist:
            f = (dist - cum) / seg
            if f <= 0.0:
                return xy[j, 0], xy[j, 1]
            if f >= 1.0:
                return xy[j + 1, 0], xy[j + 1, 1]
            return (
                (xy[j + 1, 0] - xy[j, 0]) * f + xy[j, 0],
                (xy[j + 1, 1] - xy[j, 1]) * f + xy[j, 1],
            )
        cum += seg
    return xy[b - 1, 0], xy[b - 1, 1]


@njit(cache=True, nogil=True)
def _partial(xy, a, b, f0, f1, out, k):
    """Append the stretch ``f0 -> f1`` of edge rows ``xy[a:b]`` to ``out`` from row ``k``
    (``shapely.ops.substring`` on normalised lengths in degrees); returns the new ``k``."""
    lo, hi = min(f0, f1), max(f0, f1)
    total = 0.0
    for j in range(a, b - 1):
        total += math.sqrt((xy[j + 1, 0] - xy[j, 0]) ** 2 + (xy[j + 1, 1] - xy[j, 1]) ** 2)
    s, t = lo * total, hi * total
    k0 = k
    out[k, 0], out[k, 1] = _interp(xy, a, b, s)
    k += 1
    if s != t:
        cur = 0.0
        for j in range(a, b - 1):
            if s < cur < t:
                out[k, 0], out[k, 1] = xy[j, 0], xy[j, 1]
                k += 1
            elif cur >= t:
                break
            cur += math.sqrt((xy[j + 1, 0] - xy[j, 0]) ** 2 + (xy[j + 1, 1] - xy[j, 1]) ** 2)
    out[k, 0], out[k, 1] = _interp(xy, a, b, t)
    k += 1
    if f1 < f0:  # travelled backwards
        i, j = k0, k - 1
        while i < j:
            for c in range(2):
                out[i, c], out[j, c] = out[j, c], out[i, c]
            i += 1
            j -= 1
    return k


@njit(cache=True, nogil=True)
def _pieces(path, ea, fa, eb, fb, src, dst, indptr, indices, arc_eidx, arc_fwd):
    """The route's pieces (edge, from, to) through the node ``path`` (``_piece_arrays``)."""
    m = path.size + 1
    pe = np.empty(m, np.int64)
    pf0 = np.empty(m)
    pf1 = np.empty(m)
    pe[0], pf0[0] = ea, fa
    pf1[0] = 1.0 if dst[ea] == path[0] else 0.0
    for i in range(path.size - 1):
        u, v = path[i], path[i + 1]
        arc = -1
        for k in range(indptr[u], indptr[u + 1]):
            if indices[k] == v:
                arc = k
                break
        if arc < 0:
            return False, pe[:0], pf0[:0], pf1[:0]
        pe[i + 1] = arc_eidx[arc]
        pf0[i + 1] = 0.0 if arc_fwd[arc] else 1.0
        pf1[i + 1] = 1.0 - pf0[i + 1]
    pe[m - 1], pf1[m - 1] = eb, fb
    pf0[m - 1] = 0.0 if src[eb] == path[path.size - 1] else 1.0
    keep = np.abs(pf1 - pf0) > 1e-12
    return True, pe[keep], pf0[keep], pf1[keep]


@njit(cache=True, nogil=True)
def _coords(pe, pf0, pf1, a_lon, a_lat, b_lon, b_lat, xy, xy_ptr):
    """The route's coordinates (``_route_from_arrays`` + ``_finish``): start, the pieces (partial
    ends cut, whole edges copied), end, consecutive repeats dropped; empty when a middle piece
    is partial (the caller falls back to the general builder)."""
    n = pe.size
    tot = 2
    for i in range(n):
        whole = (pf0[i] == 0.0 and pf1[i] == 1.0) or (pf0[i] == 1.0 and pf1[i] == 0.0)
        if not whole and 0 < i < n - 1:
            return np.empty((0, 2))
        tot += xy_ptr[pe[i] + 1] - xy_ptr[pe[i]] + 2
    out = np.empty((tot, 2))
    out[0, 0], out[0, 1] = a_lon, a_lat
    k = 1
    for i in range(n):
        a, b = xy_ptr[pe[i]], xy_ptr[pe[i] + 1]
        whole = (pf0[i] == 0.0 and pf1[i] == 1.0) or (pf0[i] == 1.0 and pf1[i] == 0.0)
        if whole:
            for r in range(b - a):
                src = a + r if pf1[i] == 1.0 else b - 1 - r
                out[k, 0], out[k, 1] = xy[src, 0], xy[src, 1]
                k += 1
        else:
            k = _partial(xy, a, b, pf0[i], pf1[i], out, k)
    out[k, 0], out[k, 1] = b_lon, b_lat
    k += 1
    m = 1
    for i in range(1, k):
        if out[i, 0] != out[m - 1, 0] or out[i, 1] != out[m - 1, 1]:
            out[m, 0], out[m, 1] = out[i, 0], out[i, 1]
            m += 1
    if m < 2:
        out[1, 0], out[1, 1] = out[0, 0], out[0, 1]
        m = 2
    return out[:m].copy()


@njit(cache=True, nogil=True)
def route_kernel(
    ea, fa, a_lon, a_lat, eb, fb, b_lon, b_lat,
    length_m, cost_e, src, dst, fwd_ok, bwd_ok, at_node_m,
    u_ptr, u_head, u_w, u_eid, d_ptr, d_head, d_w, d_eid, eu, ev, ec1, ec2, rank, node_of,
    df, dbk, pf, pb, tf, tb, hk, hx,
    indptr, indices, arc_eidx, arc_fwd, xy, xy_ptr, ce_ptr, ce_cam, ce_f0, ce_f1,
):  # fmt: skip
    """Route between two snapped places through the hierarchy, with its geometry and the cameras
    along it: (status, pe, pf0, pf1, coords, piece metres, cameras, first metre, last metre)."""
    z = np.zeros(0, np.int64)
    zf = np.zeros(0)
    sn, sc = _ends(
        ea, fa, length_m[ea], cost_e[ea], src[ea], dst[ea], fwd_ok[ea], bwd_ok[ea], at_node_m
    )
    tn, tc = _ends(
        eb, fb, length_m[eb], cost_e[eb], src[eb], dst[eb], bwd_ok[eb], fwd_ok[eb], at_node_m
    )
    direct = np.inf
    if ea == eb and ((fb >= fa and fwd_ok[ea]) or (fb <= fa and bwd_ok[ea])):
        direct = abs(fb - fa) * cost_e[ea]
    cost, path = np.inf, z
    if sn.size and tn.size:
        cost, inner = chq.route(
            rank[sn], sc, rank[tn], tc, u_ptr, u_head, u_w, u_eid, d_ptr, d_head, d_w, d_eid,
            eu, ev, ec1, ec2, df, dbk, pf, pb, tf, tb, hk, hx,
        )  # fmt: skip
        path = node_of[inner]
    if not path.size:
        cost = np.inf
    if not np.isfinite(cost) and not np.isfinite(direct):
        return NO_PATH, z, zf, zf, np.empty((0, 2)), zf, z, zf, zf
    if direct <= cost:
        pe = np.array([ea], np.int64)
        pf0 = np.array([fa])
        pf1 = np.array([fb])
    else:
        ok, pe, pf0, pf1 = _pieces(
            path, ea, fa, eb, fb, src, dst, indptr, indices, arc_eidx, arc_fwd
        )
        if not ok:
            return FALLBACK, z, zf, zf, np.empty((0, 2)), zf, z, zf, zf
    coords = _coords(pe, pf0, pf1, a_lon, a_lat, b_lon, b_lat, xy, xy_ptr)
    if coords.shape[0] == 0:
        return FALLBACK, pe, pf0, pf1, coords, zf, z, zf, zf
    pm = np.abs(pf1 - pf0) * length_m[pe]
    cum = np.zeros(pm.size)
    for i in range(1, pm.size):
        cum[i] = cum[i - 1] + pm[i - 1]
    cams, s_m, e_m = along_kernel(pe, pf0, pf1, cum, pm, ce_ptr, ce_cam, ce_f0, ce_f1)
    order = np.argsort(s_m, kind="mergesort")  # by first metre, then camera id (input order)
    return OK, pe, pf0, pf1, coords, pm, cams[order], s_m[order], e_m[order]


# --------------------------------------------------------------------------- packed arguments
# A call's dispatch costs about 0.5 us per array argument with cold caches (54 arguments: 26 us
# after a database call, a fifth of a Daejeon route), so the service calls the packed entry
# points below: the graph's arrays in three buffers (``geo.routing.compiled`` makes them once
# per mode graph), the hierarchy's in two (``Prepared.pack_*``), the scratch in two blocks.

#: Order of the graph's arrays in the packed buffers (ints, floats, bools); ``go`` holds the
#: boundaries of the three sections one after another (13 + 8 + 4 numbers).
GI = ("src", "dst", "arc_eidx", "xy_ptr", "ce_ptr", "ce_cam", "cell_ptr", "cell_seg",
      "seg_edge", "indptr", "indices", "cam_ids")  # fmt: skip
GF = ("length_m", "cost_e", "speed_e", "ce_f0", "ce_f1", "cam_lon", "cam_lat")
GB = ("fwd_ok", "bwd_ok", "arc_fwd")
_F0, _B0 = len(GI) + 1, len(GI) + len(GF) + 2  # where the float and bool boundaries start


def pack_graph(arrays: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The graph's arrays (by the names of :data:`GI`, :data:`GF`, :data:`GB`) as the three
    buffers and their boundaries ``go`` the packed kernels take."""
    bufs, bounds = [], []
    for names, dtype in ((GI, np.int64), (GF, np.float64), (GB, np.bool_)):
        parts = [np.asarray(arrays[k], dtype).ravel() for k in names]
        bufs.append(np.concatenate(parts))
        bounds += np.concatenate([[0], np.cumsum([a.size for a in parts])]).tolist()
    return bufs[0], bufs[1], bufs[2], np.array(bounds, np.int64)


@njit(cache=True, nogil=True, inline="always")
def _g(buf, at, k):
    return buf[at[k] : at[k + 1]]


@njit(cache=True, nogil=True)
def _pw_block(a, lo, n):
    """numpy's float64 sum of up to 128 values: sequential below 8, else 8 accumulators."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r = a[lo : lo + 8].copy()
    i = 8
    m = n - (n % 8)
    while i < m:
        for j in range(8):
            r[j] += a[lo + i + j]
        i += 8
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True, nogil=True)
def _pw(a, lo, n):
    """``a[lo:lo + n].sum()`` exactly as numpy adds float64 (pairwise: blocks of up to 128,
    halves above, split at a multiple of 8), so the compiled route's metres and seconds equal
    the Python builder's to the bit. Iterative (numba's cache and recursion do not mix): a stack
    of tasks, ``n >= 0`` = sum that block, ``-1`` = add the two values on top."""
    t_lo = np.empty(128, np.int64)
    t_n = np.empty(128, np.int64)
    vals = np.empty(128)
    nt, nv = 1, 0
    t_lo[0], t_n[0] = lo, n
    while nt > 0:
        nt -= 1
        tl, tn = t_lo[nt], t_n[nt]
        if tn < 0:
            nv -= 1
            vals[nv - 1] = vals[nv - 1] + vals[nv]
        elif tn <= 128:
            vals[nv] = _pw_block(a, tl, tn)
            nv += 1
        else:
            n2 = tn // 2
            n2 -= n2 % 8
            t_lo[nt], t_n[nt] = 0, -1  # then add
            t_lo[nt + 1], t_n[nt + 1] = tl + n2, tn - n2  # then the right half
            t_lo[nt + 2], t_n[nt + 2] = tl, n2  # the left half first
            nt += 3
    return vals[0]


@njit(cache=True, nogil=True)
def route_packed(
    ea, fa, a_lon, a_lat, eb, fb, b_lon, b_lat, at_node_m, gi, gf, gb, go, xy, pi, pf_, pa, sf, si
):  # fmt: skip
    """:func:`route_kernel` on packed arguments, plus each piece's speed, the route's metres and
    nominal seconds (numpy's sums) and the cameras' positions: (status, pe, pf0, pf1, coords,
    piece metres, piece speeds, metres, seconds, cameras, first metre, last metre, lon, lat)."""
    st, pe, pf0, pf1, coords, pm, cams, s_m, e_m = route_kernel(
        ea, fa, a_lon, a_lat, eb, fb, b_lon, b_lat,
        _g(gf, go, _F0), _g(gf, go, _F0 + 1), _g(gi, go, 0), _g(gi, go, 1),
        _g(gb, go, _B0), _g(gb, go, _B0 + 1), at_node_m,
        _g(pi, pa, 0), _g(pi, pa, 1), _g(pf_, pa, 13), _g(pi, pa, 2),
        _g(pi, pa, 3), _g(pi, pa, 4), _g(pf_, pa, 14), _g(pi, pa, 5),
        _g(pi, pa, 6), _g(pi, pa, 7), _g(pi, pa, 8), _g(pi, pa, 9), _g(pi, pa, 10), _g(pi, pa, 11),
        sf[0], sf[1], si[0], si[1], si[2], si[3], sf[2:4], si[4:8],
        _g(gi, go, 9), _g(gi, go, 10), _g(gi, go, 2), _g(gb, go, _B0 + 2), xy, _g(gi, go, 3),
        _g(gi, go, 4), _g(gi, go, 5), _g(gf, go, _F0 + 3), _g(gf, go, _F0 + 4),
    )  # fmt: skip
    zf = np.zeros(0)
    if st != OK:
        return st, pe, pf0, pf1, coords, zf, zf, 0.0, 0.0, cams, zf, zf, zf, zf
    n = pm.size
    speed = _g(gf, go, _F0 + 2)[pe]
    tt = _pw(pm / (speed / 3.6), 0, n) if n else 0.0
    cam_ids = _g(gi, go, 11)
    lon, lat = np.full(cams.size, np.nan), np.full(cams.size, np.nan)
    if cam_ids.size:
        idx = np.minimum(np.searchsorted(cam_ids, cams), cam_ids.size - 1)
        lon, lat = _g(gf, go, _F0 + 5)[idx], _g(gf, go, _F0 + 6)[idx]
    return st, pe, pf0, pf1, coords, pm, speed, _pw(pm, 0, n), tt, cams, s_m, e_m, lon, lat


@njit(cache=True, nogil=True)
def points_packed(
    a_lon, a_lat, a_kx, b_lon, b_lat, b_kx, ky, max_m, x0, y0, cw, chh, nx, ny,
    at_node_m, gi, gf, gb, go, xy, pi, pf_, pa, sf, si,
):  # fmt: skip
    """Snap both points (:func:`snap_point`) and route between them (:func:`route_packed`):
    (status, from edge, fraction, metres off, to edge, fraction, metres off, then
    route_packed's answer without its status). ``SNAP_FROM`` / ``SNAP_TO``: that point is not
    near a road."""
    cell_ptr, cell_seg, seg_edge, xy_ptr = (
        _g(gi, go, 6),
        _g(gi, go, 7),
        _g(gi, go, 8),
        _g(gi, go, 3),
    )
    z, zf = np.zeros(0, np.int64), np.zeros(0)
    e2 = np.empty((0, 2))
    ea, fa, da = snap_point(
        a_lon, a_lat, a_kx, ky, max_m, x0, y0, cw, chh, nx, ny, cell_ptr, cell_seg, seg_edge,
        xy, xy_ptr,
    )  # fmt: skip
    if ea < 0:
        return (SNAP_FROM, ea, fa, da, -1, 0.0, 0.0,
                z, zf, zf, e2, zf, zf, 0.0, 0.0, z, zf, zf, zf, zf)  # fmt: skip
    eb, fb, db = snap_point(
        b_lon, b_lat, b_kx, ky, max_m, x0, y0, cw, chh, nx, ny, cell_ptr, cell_seg, seg_edge,
        xy, xy_ptr,
    )  # fmt: skip
    if eb < 0:
        return (SNAP_TO, ea, fa, da, eb, fb, db,
                z, zf, zf, e2, zf, zf, 0.0, 0.0, z, zf, zf, zf, zf)  # fmt: skip
    st, pe, pf0, pf1, coords, pm, speed, length, tt, cams, s_m, e_m, lon, lat = route_packed(
        ea, fa, a_lon, a_lat, eb, fb, b_lon, b_lat, at_node_m, gi, gf, gb, go, xy, pi, pf_, pa,
        sf, si,
    )  # fmt: skip
    return (st, ea, fa, da, eb, fb, db,
            pe, pf0, pf1, coords, pm, speed, length, tt, cams, s_m, e_m, lon, lat)  # fmt: skip


def warm() -> None:
    """Compile (or load from numba's cache) the snapping and route kernels off the request path,
    on a two-edge line with the dtypes the road graph uses (packed as the service packs them)."""
    from geo.pathfinding import prepare
    from geo.pathfinding.engine import _Scratch

    xy = np.array([[0.0, 0.0], [0.001, 0.0], [0.001, 0.0], [0.002, 0.0]])
    xy_ptr = np.array([0, 2, 4], np.int64)
    p = prepare(
        np.array([0, 1, 3, 4], np.int64), np.array([1, 0, 2, 1], np.int64), np.full(4, 80.0)
    )
    sc = _Scratch(p.n)
    x0, y0, cw, chh, nx, ny, cell_ptr, cell_seg, seg_edge = build_snap_grid(
        xy, xy_ptr, np.array([0, 1], np.int64)
    )
    e, f, _ = snap_point(
        0.0005, 0.0001, 111320.0, M_PER_DEG_LAT, 500.0, x0, y0, cw, chh, nx, ny,
        cell_ptr, cell_seg, seg_edge, xy, xy_ptr,
    )  # fmt: skip
    length = np.array([111.0, 111.0])
    have = {
        "src": [0, 1], "dst": [1, 2], "arc_eidx": [0, 0, 1, 1], "xy_ptr": xy_ptr,
        "ce_ptr": [0, 0, 0], "ce_cam": [], "cell_ptr": cell_ptr, "cell_seg": cell_seg,
        "seg_edge": seg_edge, "indptr": [0, 1, 3, 4, 6], "indices": [1, 0, 2, 1, 3, 3],
        "cam_ids": [], "length_m": length, "cost_e": length / 1.4, "speed_e": [5.0, 5.0],
        "ce_f0": [], "ce_f1": [], "cam_lon": [], "cam_lat": [],
        "fwd_ok": [True, True], "bwd_ok": [True, True], "arc_fwd": [True, False, True, False],
    }  # fmt: skip
    packed = (*pack_graph(have), xy, p.pack_int, p.pack_float, p.pack_at)
    route_packed(int(e), float(f), 0.0005, 0.0001, 1, 0.5, 0.0015, 0.0, 0.5,
                 *packed, sc.floats, sc.ints)  # fmt: skip
    points_packed(0.0005, 0.0001, 111320.0, 0.0015, 0.0, 111320.0, M_PER_DEG_LAT, 500.0,
                  float(x0), float(y0), float(cw), float(chh), int(nx), int(ny), 0.5,
                  *packed, sc.floats, sc.ints)  # fmt: skip
