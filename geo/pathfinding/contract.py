# mypy: ignore-errors
# (numba kernels: plain arrays and scalars, typed by numba at compile time)
"""Contraction hierarchies: node ordering and shortcuts (numba, no Python objects in the loop).

Nodes are contracted one by one, cheapest first by the priority ``2 x edge difference (shortcuts
added - arcs removed) + contracted neighbours + level`` (Geisberger et al.'s terms; the last two
spread the contraction evenly, which on grid-like networks keeps the top of the hierarchy
sparse). Lazy updates: a popped node is re-simulated and pushed back when its priority got worse
than the next one's (its simulation stops as soon as that is certain); the low-degree neighbours
of a contracted node are re-estimated at once with a cheaper witness search.

Contracting ``v`` adds a shortcut ``u -> w`` for an in-arc ``u -> v`` and out-arc ``v -> w``
unless a witness search finds a path from ``u`` to ``w`` avoiding ``v`` that is no longer. The
witness search is one Dijkstra per in-neighbour ``u``; it stops as soon as every out-neighbour
``w`` has *some* path (settled or not) within its bound, or the next node lies beyond the
dearest bound still open, or after a number of settled nodes (a bounded search that gives up only
adds a shortcut that was not needed, never a wrong distance). On a symmetric graph (every arc
has its reverse at the same cost: the walking graph) each pair of neighbours is decided once
for both directions and the shortcuts are added in pairs, which keeps the graph symmetric.

The dynamic graph lives in preallocated pools: per node an out-list (arc id, head and cost side
by side, so a witness search reads one contiguous run) and an in-list of arc ids, each moved to
the end of its pool when full. Every arc, original or shortcut, stays in one arc pool (``eu``,
``ev``, ``ew`` and the two child arcs ``ec1``, ``ec2`` of a shortcut, -1 for an original arc);
the query graphs are built from it.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit

from geo.pathfinding import heap as _h

MAX_SETTLED = 5000  # witness search: nodes settled before it gives up (adds the shortcut)
MAX_HOPS = 20  # witness search: arcs on a witness path
EST_SETTLED, EST_HOPS = 100, 10  # the same for priority estimates (initial, neighbour updates)
W_ARCS, W_HOPS, W_LEVEL, W_EDGE_DIFF, W_DELETED = 0.0, 0.0, 1.0, 2.0, 1.0  # priority weights
SCAN_BUDGET = 1e12  # witness search: arcs looked at before it gives up
UPDATE_DEGREE = 12  # neighbours up to this degree are re-simulated after a contraction
CUTOFF = 1.0  # 1: a popped node's simulation stops once its priority passes the next one's
SLACK = 0.0  # a popped node is contracted unless its priority exceeds the next one's + this

_NAMES = (
    "settled",
    "hops",
    "w_arcs",
    "w_hops",
    "w_level",
    "update_degree",
    "scan_budget",
    "w_edge_diff",
    "w_deleted",
    "est_settled",
    "est_hops",
)
_SCANNED = 11  # slot counting the arcs the witness searches scanned (statistics)
_CUTOFF = 12
_SLACK = 13
_SYM = 14  # set by the caller: the graph is symmetric (see _simulate)


def params(**override: float) -> np.ndarray:
    """The tuning knobs as one array (numba reads module constants only at compile time).

    Keywords (benchmarks): settled, hops, w_arcs, w_hops, w_level, update_degree, scan_budget,
    w_edge_diff, w_deleted, est_settled, est_hops, cutoff, slack. Priority: ``w_arcs`` x arcs
    added / removed + ``w_hops`` x original arcs added / removed (RoutingKit's terms) +
    ``w_level`` x level + ``w_edge_diff`` x (added - removed) + ``w_deleted`` x contracted
    neighbours.
    """
    values = [MAX_SETTLED, MAX_HOPS, W_ARCS, W_HOPS, W_LEVEL, UPDATE_DEGREE, SCAN_BUDGET]
    values += [W_EDGE_DIFF, W_DELETED, EST_SETTLED, EST_HOPS]
    unknown = set(override) - set(_NAMES) - {"cutoff", "slack"}
    if unknown:
        raise ValueError(f"unknown contraction parameters: {sorted(unknown)}")
    out = [float(override.get(k, v)) for k, v in zip(_NAMES, values, strict=True)]
    extra = [float(override.get("cutoff", CUTOFF)), float(override.get("slack", SLACK)), 0.0]
    return np.array([*out, 0.0, *extra], np.float64)


@njit(cache=True, nogil=True)
def _grow(a, size):
    out = np.empty(size, a.dtype)
    out[: a.size] = a
    return out


@njit(cache=True, nogil=True)
def _append_in(pool, start, length, cap, end, x, item):
    """Append arc ``item`` to node ``x``'s in-list (moved to the pool's end when full)."""
    if length[x] == cap[x]:
        newcap = max(4, 2 * cap[x])
        if end + newcap > pool.size:
            pool = _grow(pool, 2 * pool.size + newcap)
        s = start[x]
        pool[end : end + length[x]] = pool[s : s + length[x]]
        start[x], cap[x] = end, newcap
        end += newcap
    pool[start[x] + length[x]] = item
    length[x] += 1
    return pool, end


@njit(cache=True, nogil=True)
def _append_out(op, oh, ow, start, length, cap, end, x, e, y, c):
    """Append arc ``e`` (head ``y``, cost ``c``) to node ``x``'s out-list (three pools)."""
    if length[x] == cap[x]:
        newcap = max(4, 2 * cap[x])
        if end + newcap > op.size:
            size = 2 * op.size + newcap
            op, oh, ow = _grow(op, size), _grow(oh, size), _grow(ow, size)
        s, m = start[x], length[x]
        op[end : end + m] = op[s : s + m]
        oh[end : end + m] = oh[s : s + m]
        ow[end : end + m] = ow[s : s + m]
        start[x], cap[x] = end, newcap
        end += newcap
    i = start[x] + length[x]
    op[i], oh[i], ow[i] = e, y, c
    length[x] += 1
    return op, oh, ow, end


@njit(cache=True, nogil=True)
def _remove_in(pool, start, length, x, item):
    s = start[x]
    for k in range(length[x]):
        if pool[s + k] == item:
            pool[s + k] = pool[s + length[x] - 1]
            length[x] -= 1
            return


@njit(cache=True, nogil=True)
def _remove_out(op, oh, ow, start, length, x, item):
    s = start[x]
    for k in range(length[x]):
        if op[s + k] == item:
            last = s + length[x] - 1
            op[s + k], oh[s + k], ow[s + k] = op[last], oh[last], ow[last]
            length[x] -= 1
            return


@njit(cache=True, nogil=True)
def _witness(src, skip, base, tc, wit, left, og, work, lim):
    """Bounded Dijkstra from ``src`` avoiding ``skip``; fills ``dist``, returns touched count.

    The targets are ``skip``'s out-neighbours: ``tix[w]`` is ``w``'s slot in ``tc`` (its arc
    cost from ``skip``, sorted high to low; a last slot -inf, always witnessed), ``wit`` flags
    the witnessed ones. A target is witnessed as soon as a path to it (any path found is a real
    one) costs no more than ``base + tc[slot]``. The search stops once every target is
    witnessed, once the next node lies beyond the dearest open bound, after ``lim[0]`` settled
    nodes or ``lim[6]`` scanned arcs; paths of more than ``lim[1]`` arcs are not followed.
    """
    op, oh, ow, ostart, olen = og
    dist, hops, touched, tix, hk, hv, hp, inarc = work
    nt = 1
    dist[src] = 0.0
    hops[src] = 0
    touched[0] = src
    size = _h.push(hk, hv, hp, 0, src, 0.0)
    settled = 0
    scanned = 0
    top = 0  # slot of the dearest target not yet witnessed
    while size > 0 and left > 0:
        d, x, size = _h.pop(hk, hv, hp, size)
        while wit[top]:
            top += 1
        limit = base + tc[top]
        if d > limit:
            break
        settled += 1
        if settled > lim[0] or scanned > lim[6]:
            break
        if hops[x] >= lim[1]:
            continue
        s = ostart[x]
        scanned += olen[x]
        for k in range(s, s + olen[x]):
            y = oh[k]  # out-lists hold no contracted node: no check needed
            nd = d + ow[k]
            if nd < dist[y] and nd <= limit and y != skip:
                if dist[y] == np.inf:
                    touched[nt] = y
                    nt += 1
                dist[y] = nd
                hops[y] = hops[x] + 1
                size = _h.push(hk, hv, hp, size, y, nd)
                j = tix[y]
                if j >= 0 and not wit[j] and nd <= base + tc[j]:
                    wit[j] = True
                    left -= 1
                    if left == 0:
                        break
    _h.clear(hv, hp, size)
    lim[11] += scanned
    return nt


@njit(cache=True, nogil=True)
def _targets(v, eu, ew, og, ig, work, sym):
    """``v``'s out-arcs dearest first, their costs (+ a -inf sentinel, always witnessed) and
    witnessed flags; ``tix`` / ``inarc`` filled for its out- / in-neighbours; whether the
    neighbourhood is symmetric (the invariant of a symmetric graph, checked, not trusted)."""
    op, oh, ow, ostart, olen = og
    ipool, istart, ilen = ig
    tix, inarc = work[3], work[7]
    nin, nout, a0 = ilen[v], olen[v], ostart[v]
    order = np.argsort(-ow[a0 : a0 + nout]) + a0
    tc = np.empty(nout + 1, np.float64)
    wit = np.zeros(nout + 1, np.bool_)
    tc[nout], wit[nout] = -np.inf, True
    for k in range(nout):
        tc[k] = ow[order[k]]
        tix[oh[order[k]]] = k
    for k in range(istart[v], istart[v] + nin):
        inarc[eu[ipool[k]]] = ipool[k]
    if sym:
        sym = nin == nout
        for k in range(nout):
            e = inarc[oh[order[k]]]
            sym = sym and e >= 0 and ew[e] == tc[k]
    return order, tc, wit, sym


@njit(cache=True, nogil=True)
def _simulate(v, eu, ew, og, ig, work, lim, fixed, slope, cutoff):
    """Shortcuts needed to contract ``v``: arrays (u, w, cost, in-arc, out-arc), count.

    Gives up (count -1 - estimate) once ``fixed + slope x count`` exceeds ``cutoff``: the node
    will not be contracted now, and the rest of the searches would be wasted. On a symmetric
    graph (``lim[_SYM]``: every arc has its reverse at the same cost, kept so by adding
    shortcuts in pairs) the pair ``u, w`` is decided once for both directions, by the search
    from the neighbour behind the dearer arc, whose open targets are only the cheaper ones.
    """
    op, oh, ow, ostart, olen = og
    ipool, istart, ilen = ig
    dist, hops, touched, tix, hk, hv, hp, inarc = work
    nin, nout = ilen[v], olen[v]
    sym = lim[_SYM] > 0
    su = np.empty(max(1, nin * nout), np.int64)
    sw, s1, s2 = np.empty_like(su), np.empty_like(su), np.empty_like(su)
    sc = np.empty(su.size, np.float64)
    cnt = 0
    if nin == 0 or nout == 0:
        return su, sw, sc, s1, s2, cnt
    order, tc, wit, sym = _targets(v, eu, ew, og, ig, work, sym)
    for a in range(nin):
        if sym:  # in-neighbours = out-neighbours: take them in slot order
            u = oh[order[a]]
            e1 = inarc[u]
            wit[: a + 1] = True
            wit[a + 1 : nout] = False
            left, b0 = nout - a - 1, a + 1
        else:
            e1 = ipool[istart[v] + a]
            u = eu[e1]
            wit[:nout] = False
            left, b0 = nout, 0
            if tix[u] >= 0:  # u -> v -> u needs no shortcut
                wit[tix[u]] = True
                left -= 1
        nt = _witness(u, v, ew[e1], tc, wit, left, og, work, lim) if left > 0 else 0
        for b in range(b0, nout):
            w = oh[order[b]]
            need = ew[e1] + tc[b]
            if wit[b] or dist[w] <= need:
                continue
            su[cnt], sw[cnt], sc[cnt], s1[cnt], s2[cnt] = u, w, need, e1, op[order[b]]
            cnt += 1
            if sym:
                su[cnt], sw[cnt], sc[cnt], s1[cnt], s2[cnt] = w, u, need, inarc[w], op[order[a]]
                cnt += 1
        for k in range(nt):
            dist[touched[k]] = np.inf
        if fixed + slope * cnt > cutoff and a + 1 < nin:
            cnt = -1 - (cnt * nin) // (a + 1)
            break
    tix[oh[order]] = -1
    inarc[eu[ipool[istart[v] : istart[v] + nin]]] = -1
    return su, sw, sc, s1, s2, cnt


@njit(cache=True, nogil=True)
def _priority(v, cnt, s1, s2, og, ig, ehops, deleted, level, lim):
    """Weighted: arcs added / removed, original arcs (hops) added / removed, level, edge
    difference and contracted neighbours."""
    op, oh, ow, ostart, olen = og
    ipool, istart, ilen = ig
    removed = ilen[v] + olen[v]
    h_rem, h_add = 0, 0
    if lim[3] != 0:
        for k in range(ilen[v]):
            h_rem += ehops[ipool[istart[v] + k]]
        for k in range(olen[v]):
            h_rem += ehops[op[ostart[v] + k]]
        for k in range(cnt):
            h_add += ehops[s1[k]] + ehops[s2[k]]
    return (
        lim[2] * cnt / max(removed, 1)
        + lim[3] * h_add / max(h_rem, 1)
        + lim[4] * level[v]
        + lim[7] * (cnt - removed)
        + lim[8] * deleted[v]
    )


@njit(cache=True, nogil=True)
def _evaluate(v, eu, ew, og, ig, work, ehops, deleted, level, lim, cutoff=np.inf):
    """Simulate the contraction of ``v``: (its shortcuts ..., count, priority).

    Above ``cutoff`` the simulation may stop early: count < 0, priority extrapolated.
    """
    removed = max(og[4][v] + ig[2][v], 1)
    fixed = lim[4] * level[v] + lim[8] * deleted[v] - lim[7] * removed
    slope = lim[7] + lim[2] / removed  # the hops term only adds: a lower bound
    su, sw, sc, s1, s2, cnt = _simulate(v, eu, ew, og, ig, work, lim, fixed, slope, cutoff)
    if cnt < 0:
        return su, sw, sc, s1, s2, cnt, fixed + slope * (-1 - cnt)
    p = _priority(v, cnt, s1, s2, og, ig, ehops, deleted, level, lim)
    return su, sw, sc, s1, s2, cnt, p


@njit(cache=True, nogil=True)
def _adjacency(n, m, eu, ev, ew):
    """Out-lists (ids, heads, costs) and in-lists with room to grow: pools, starts, lengths."""
    ocap = np.bincount(eu[:m], minlength=n) + 2
    icap = np.bincount(ev[:m], minlength=n) + 2
    ostart = np.zeros(n, np.int64)
    istart = np.zeros(n, np.int64)
    ostart[1:] = np.cumsum(ocap)[:-1]
    istart[1:] = np.cumsum(icap)[:-1]
    oend, iend = int(ocap.sum()), int(icap.sum())
    op = np.empty(2 * oend + 16, np.int64)
    oh = np.empty(op.size, np.int64)
    ow = np.empty(op.size, np.float64)
    ipool = np.empty(2 * iend + 16, np.int64)
    olen = np.zeros(n, np.int64)
    ilen = np.zeros(n, np.int64)
    for e in range(m):
        i = ostart[eu[e]] + olen[eu[e]]
        op[i], oh[i], ow[i] = e, ev[e], ew[e]
        olen[eu[e]] += 1
        ipool[istart[ev[e]] + ilen[ev[e]]] = e
        ilen[ev[e]] += 1
    return op, oh, ow, ostart, olen, ocap, oend, ipool, istart, ilen, icap, iend


@njit(cache=True, nogil=True)
def _add_shortcuts(r, arcs, ne, outs, ins):
    """Add the shortcuts ``r`` of a contraction (or lower an existing arc's cost)."""
    su, sw, sc, s1, s2, cnt = r[0], r[1], r[2], r[3], r[4], r[5]
    eu, ev, ew, ec1, ec2, ehops = arcs
    op, oh, ow, ostart, olen, ocap, oend = outs
    ipool, istart, ilen, icap, iend = ins
    for k in range(cnt):
        u, w = su[k], sw[k]
        found = -1
        for j in range(ostart[u], ostart[u] + olen[u]):
            if oh[j] == w:
                found = j
                break
        if found >= 0:
            if sc[k] < ow[found]:
                e = op[found]
                ew[e], ec1[e], ec2[e], ow[found] = sc[k], s1[k], s2[k], sc[k]
                ehops[e] = ehops[s1[k]] + ehops[s2[k]]
            continue
        if ne == eu.size:
            size = 2 * eu.size
            eu, ev, ew = _grow(eu, size), _grow(ev, size), _grow(ew, size)
            ec1, ec2, ehops = _grow(ec1, size), _grow(ec2, size), _grow(ehops, size)
        eu[ne], ev[ne], ew[ne], ec1[ne], ec2[ne] = u, w, sc[k], s1[k], s2[k]
        ehops[ne] = ehops[s1[k]] + ehops[s2[k]]
        op, oh, ow, oend = _append_out(op, oh, ow, ostart, olen, ocap, oend, u, ne, w, sc[k])
        ipool, iend = _append_in(ipool, istart, ilen, icap, iend, w, ne)
        ne += 1
    return (eu, ev, ew, ec1, ec2, ehops), ne, (op, oh, ow, ostart, olen, ocap, oend), iend, ipool


@njit(cache=True, nogil=True)
def _detach(v, eu, ev, outs, ins, mark):
    """Take ``v``'s arcs out of its neighbours' lists; returns its distinct neighbours."""
    op, oh, ow, ostart, olen = outs[0], outs[1], outs[2], outs[3], outs[4]
    ipool, istart, ilen = ins[0], ins[1], ins[2]
    nbrs = np.empty(ilen[v] + olen[v], np.int64)
    nn = 0
    for j in range(istart[v], istart[v] + ilen[v]):
        x = eu[ipool[j]]
        _remove_out(op, oh, ow, ostart, olen, x, ipool[j])
        if not mark[x]:
            mark[x] = True
            nbrs[nn] = x
            nn += 1
    for j in range(ostart[v], ostart[v] + olen[v]):
        x = ev[op[j]]
        _remove_in(ipool, istart, ilen, x, op[j])
        if not mark[x]:
            mark[x] = True
            nbrs[nn] = x
            nn += 1
    for j in range(nn):
        mark[nbrs[j]] = False
    return nbrs[:nn]


@njit(cache=True, nogil=True)
def _update_neighbours(v, nbrs, h, prio, st, work, cheap):
    """After ``v``'s contraction: its neighbours' terms move; low-degree ones are re-estimated."""
    eu, ew, og, ig, ehops, deleted, level = st
    olen, ilen = og[4], ig[2]
    for x in nbrs:
        deleted[x] += 1.0
        level[x] = max(level[x], level[v] + 1.0)
        if ilen[x] + olen[x] > cheap[5]:  # dense core: the lazy check on pop suffices
            continue
        px = _evaluate(x, eu, ew, og, ig, work, ehops, deleted, level, cheap)[6]
        if px != prio[x]:
            prio[x] = px
            heapq.heappush(h, (px, x))


@njit(cache=True, nogil=True)
def _initial(n, eu, ew, og, ig, work, ehops, deleted, level, cheap, prio):
    """Every node's estimated priority (into ``prio``), as a heap of (priority, node)."""
    h = [(0.0, np.int64(0))]
    h.pop()
    for v in range(n):
        prio[v] = _evaluate(v, eu, ew, og, ig, work, ehops, deleted, level, cheap)[6]
        h.append((prio[v], np.int64(v)))
    heapq.heapify(h)
    return h


@njit(cache=True, nogil=True)
def contract(n, eu, ev, ew, lim, stats):
    """Contract all ``n`` nodes of the arcs ``eu -> ev`` (cost ``ew``; no loops, no duplicates).

    Returns (rank per node, eu, ev, ew, ec1, ec2, number of arcs): the arc pool with shortcuts.
    ``stats``: [pops, highest degree, sum of in x out degrees, arcs scanned by witness searches,
    of which by simulations that did not contract their node, and by priority estimates].
    """
    m = eu.size
    cap_e = max(16, 3 * m)
    eu, ev, ew = _grow(eu, cap_e), _grow(ev, cap_e), _grow(ew, cap_e)
    ec1 = np.full(cap_e, -1, np.int64)
    ec2 = np.full(cap_e, -1, np.int64)
    ehops = np.ones(cap_e, np.int64)  # original arcs behind an arc
    ne = m
    op, oh, ow, ostart, olen, ocap, oend, ipool, istart, ilen, icap, iend = _adjacency(
        n, m, eu, ev, ew
    )
    mark = np.zeros(n, np.bool_)
    deleted, level, prio = np.zeros(n), np.zeros(n), np.zeros(n)
    rank = np.full(n, -1, np.int64)
    hk, hv, hp = np.empty(n), np.empty(n, np.int64), np.full(n, -1, np.int64)
    tix = np.full(n, -1, np.int64)
    inarc = np.full(n, -1, np.int64)
    work = (
        np.full(n, np.inf),
        np.zeros(n, np.int64),
        np.empty(n, np.int64),
        tix,
        hk,
        hv,
        hp,
        inarc,
    )
    cheap = lim.copy()  # priority estimates: a smaller witness search
    cheap[0], cheap[1] = lim[9], lim[10]
    og, ig = (op, oh, ow, ostart, olen), (ipool, istart, ilen)
    h = _initial(n, eu, ew, og, ig, work, ehops, deleted, level, cheap, prio)
    order = 0
    while len(h) > 0:
        p, v = heapq.heappop(h)
        if rank[v] >= 0 or p != prio[v]:
            continue
        before = lim[_SCANNED]
        nxt = h[0][0] + lim[_SLACK] if len(h) > 0 else np.inf
        cutoff = nxt if lim[_CUTOFF] > 0 else np.inf
        r = _evaluate(v, eu, ew, og, ig, work, ehops, deleted, level, lim, cutoff)
        stats[0] += 1
        stats[1] = max(stats[1], ilen[v] + olen[v])
        stats[2] += ilen[v] * olen[v]
        if r[5] < 0 or r[6] > nxt:
            prio[v] = r[6]
            heapq.heappush(h, (r[6], v))
            stats[4] += int(lim[_SCANNED] - before)
            continue
        arcs, ne, outs, iend, ipool = _add_shortcuts(
            r,
            (eu, ev, ew, ec1, ec2, ehops),
            ne,
            (op, oh, ow, ostart, olen, ocap, oend),
            (ipool, istart, ilen, icap, iend),
        )
        eu, ev, ew, ec1, ec2, ehops = arcs
        op, oh, ow, oend = outs[0], outs[1], outs[2], outs[6]
        og, ig = (op, oh, ow, ostart, olen), (ipool, istart, ilen)
        nbrs = _detach(v, eu, ev, og, ig, mark)
        rank[v] = order
        order += 1
        st = (eu, ew, og, ig, ehops, deleted, level)
        _update_neighbours(v, nbrs, h, prio, st, work, cheap)
    stats[3] = int(lim[_SCANNED] + cheap[_SCANNED])
    stats[5] = int(cheap[_SCANNED])
    return (
        rank,
        eu[:ne].copy(),
        ev[:ne].copy(),
        ew[:ne].copy(),
        ec1[:ne].copy(),
        ec2[:ne].copy(),
        ne,
    )
