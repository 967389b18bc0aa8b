# mypy: ignore-errors
# (numba kernels: plain arrays and scalars, typed by numba at compile time)
"""Contraction hierarchies: node ordering and shortcuts (numba, no Python objects in the loop).

Nodes are contracted one by one, cheapest first by RoutingKit's priority ``level + arcs added /
arcs removed + original arcs (hops) added / hops removed`` (lazy updates: a popped node is
re-simulated and pushed back when its priority got worse than the next one's; the low-degree
neighbours of a contracted node are re-estimated at once with a cheaper witness search).
Contracting ``v`` adds a shortcut ``u -> w`` for an in-arc ``u -> v`` and out-arc ``v -> w`` unless
a witness search (Dijkstra from ``u`` that avoids ``v``, bounded by the shortcut's cost, a number
of settled nodes and a number of hops) finds a path that is no longer. A bounded search that gives
up only adds a shortcut that was not needed, never a wrong distance.

Every arc, original or shortcut, stays in one edge pool (``eu``, ``ev``, ``ew`` and the two child
arcs ``ec1``, ``ec2`` of a shortcut, -1 for an original arc); the query graphs are built from it.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit

from geo.pathfinding import heap as _h

MAX_SETTLED = 500  # witness search: nodes settled before it gives up (adds the shortcut)
MAX_HOPS = 20  # witness search: arcs on a witness path
EST_SETTLED, EST_HOPS = 20, 3  # the same for priority estimates (initial, neighbour updates)
W_ARCS, W_HOPS, W_LEVEL, W_EDGE_DIFF, W_DELETED = 1.0, 1.0, 1.0, 0.0, 0.0  # priority weights
SCAN_BUDGET = 1e12  # witness search: arcs looked at before it gives up (a small budget
# was measured: more shortcuts, a denser core, slower overall)
UPDATE_DEGREE = 12  # neighbours up to this degree are re-simulated after a contraction


def params(**override: float) -> np.ndarray:
    """The tuning knobs as one array (numba reads module constants only at compile time).

    Keywords (benchmarks): settled, hops, w_arcs, w_hops, w_level, update_degree, scan_budget,
    w_edge_diff, w_deleted, est_settled, est_hops.
    """
    names = [
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
    ]
    values = [MAX_SETTLED, MAX_HOPS, W_ARCS, W_HOPS, W_LEVEL, UPDATE_DEGREE, SCAN_BUDGET]
    values += [W_EDGE_DIFF, W_DELETED, EST_SETTLED, EST_HOPS]
    unknown = set(override) - set(names)
    if unknown:
        raise ValueError(f"unknown contraction parameters: {sorted(unknown)}")
    return np.array([override.get(k, v) for k, v in zip(names, values, strict=True)], np.float64)


@njit(cache=True, nogil=True)
def _append(pool, start, length, cap, end, x, item):
    """Append ``item`` to node ``x``'s list in ``pool`` (moved to the end when full)."""
    if length[x] == cap[x]:
        newcap = max(4, 2 * cap[x])
        if end + newcap > pool.size:
            bigger = np.empty(max(2 * pool.size, end + newcap), np.int64)
            bigger[:end] = pool[:end]
            pool = bigger
        s = start[x]
        for k in range(length[x]):
            pool[end + k] = pool[s + k]
        start[x] = end
        cap[x] = newcap
        end += newcap
    pool[start[x] + length[x]] = item
    length[x] += 1
    return pool, end


@njit(cache=True, nogil=True)
def _remove(pool, start, length, x, item):
    s = start[x]
    for k in range(length[x]):
        if pool[s + k] == item:
            pool[s + k] = pool[s + length[x] - 1]
            length[x] -= 1
            return


@njit(cache=True, nogil=True)
def _witness(src, skip, limit, left, g, dist, hops, touched, tgt, hk, hv, hp, lim):
    """Bounded Dijkstra from ``src`` avoiding ``skip``; fills ``dist``, returns touched count.

    Stops at ``limit``, after ``lim[0]`` settled nodes, or once the ``left`` marked targets are
    settled; paths of more than ``lim[1]`` arcs are not followed.
    """
    ev, ew, opool, ostart, olen, contracted = g
    nt = 1
    dist[src] = 0.0
    hops[src] = 0
    touched[0] = src
    size = _h.push(hk, hv, hp, 0, src, 0.0)
    settled = 0
    scanned = 0
    while size > 0:
        d, x, size = _h.pop(hk, hv, hp, size)
        if d > limit:
            break
        if tgt[x]:
            left -= 1
            if left == 0:
                break
        settled += 1
        if settled > lim[0] or scanned > lim[6]:
            break
        if hops[x] >= lim[1]:
            continue
        s = ostart[x]
        scanned += olen[x]
        for k in range(olen[x]):
            e = opool[s + k]
            y = ev[e]
            if y == skip or contracted[y]:
                continue
            nd = d + ew[e]
            if nd < dist[y] and nd <= limit:
                if dist[y] == np.inf:
                    touched[nt] = y
                    nt += 1
                dist[y] = nd
                hops[y] = hops[x] + 1
                size = _h.push(hk, hv, hp, size, y, nd)
    _h.clear(hv, hp, size)
    return nt


@njit(cache=True, nogil=True)
def _simulate(v, eu, g, ipool, istart, ilen, work, lim):
    """Shortcuts needed to contract ``v``: arrays (u, w, cost, in-arc, out-arc), count."""
    ev, ew, opool, ostart, olen, contracted = g
    dist, hops, touched, tgt, hk, hv, hp = work
    nin, nout = ilen[v], olen[v]
    su = np.empty(max(1, nin * nout), np.int64)
    sw = np.empty_like(su)
    s1 = np.empty_like(su)
    s2 = np.empty_like(su)
    sc = np.empty(su.size, np.float64)
    cnt = 0
    if nin == 0 or nout == 0:
        return su, sw, sc, s1, s2, cnt
    max_out = 0.0
    for k in range(nout):
        e2 = opool[ostart[v] + k]
        max_out = max(max_out, ew[e2])
        tgt[ev[e2]] = True
    for a in range(nin):
        e1 = ipool[istart[v] + a]
        u = eu[e1]
        nt = _witness(u, v, ew[e1] + max_out, nout, g, dist, hops, touched, tgt, hk, hv, hp, lim)
        for b in range(nout):
            e2 = opool[ostart[v] + b]
            w = ev[e2]
            if w == u:
                continue
            need = ew[e1] + ew[e2]
            if dist[w] <= need:
                continue
            su[cnt], sw[cnt], sc[cnt], s1[cnt], s2[cnt] = u, w, need, e1, e2
            cnt += 1
        for k in range(nt):
            dist[touched[k]] = np.inf
    for k in range(nout):
        tgt[ev[opool[ostart[v] + k]]] = False
    return su, sw, sc, s1, s2, cnt


@njit(cache=True, nogil=True)
def _grow(a, size):
    out = np.empty(size, a.dtype)
    out[: a.size] = a
    return out


@njit(cache=True, nogil=True)
def _priority(v, r, g, ipool, istart, ilen, ehops, deleted, level, lim):
    """Weighted: arcs added / removed, original arcs (hops) added / removed, level, edge
    difference and contracted neighbours (RoutingKit's choice is the first three at 1)."""
    ev, ew, opool, ostart, olen, contracted = g
    s1, s2, cnt = r[3], r[4], r[5]
    removed = ilen[v] + olen[v]
    h_rem = 0
    for k in range(ilen[v]):
        h_rem += ehops[ipool[istart[v] + k]]
    for k in range(olen[v]):
        h_rem += ehops[opool[ostart[v] + k]]
    h_add = 0
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
def contract(n, eu, ev, ew, lim, stats):
    """Contract all ``n`` nodes of the arcs ``eu -> ev`` (cost ``ew``; no loops, no duplicates).

    Returns (rank per node, eu, ev, ew, ec1, ec2, number of arcs): the edge pool with shortcuts.
    """
    m = eu.size
    cap_e = max(16, 3 * m)
    eu, ev, ew = _grow(eu, cap_e), _grow(ev, cap_e), _grow(ew, cap_e)
    ec1 = np.full(cap_e, -1, np.int64)
    ec2 = np.full(cap_e, -1, np.int64)
    ehops = np.ones(cap_e, np.int64)  # original arcs behind an arc
    ne = m
    outdeg = np.bincount(eu[:m], minlength=n)
    indeg = np.bincount(ev[:m], minlength=n)
    ocap = outdeg + 2
    icap = indeg + 2
    ostart = np.zeros(n, np.int64)
    istart = np.zeros(n, np.int64)
    ostart[1:] = np.cumsum(ocap)[:-1]
    istart[1:] = np.cumsum(icap)[:-1]
    oend, iend = int(ocap.sum()), int(icap.sum())
    opool = np.empty(2 * oend + 16, np.int64)
    ipool = np.empty(2 * iend + 16, np.int64)
    olen = np.zeros(n, np.int64)
    ilen = np.zeros(n, np.int64)
    for e in range(m):
        opool[ostart[eu[e]] + olen[eu[e]]] = e
        olen[eu[e]] += 1
        ipool[istart[ev[e]] + ilen[ev[e]]] = e
        ilen[ev[e]] += 1
    contracted = np.zeros(n, np.bool_)
    mark = np.zeros(n, np.bool_)
    deleted = np.zeros(n, np.float64)
    level = np.zeros(n, np.float64)
    prio = np.zeros(n, np.float64)
    rank = np.full(n, -1, np.int64)
    dist = np.full(n, np.inf)
    hops = np.zeros(n, np.int64)
    touched = np.empty(n, np.int64)
    tgt = np.zeros(n, np.bool_)
    hk, hv, hp = np.empty(n), np.empty(n, np.int64), np.full(n, -1, np.int64)
    work = (dist, hops, touched, tgt, hk, hv, hp)
    cheap = lim.copy()  # priority estimates: a smaller witness search
    cheap[0], cheap[1] = lim[9], lim[10]
    h = [(0.0, np.int64(0))]
    h.pop()
    for v in range(n):
        r = _simulate(
            v, eu, (ev, ew, opool, ostart, olen, contracted), ipool, istart, ilen, work, cheap
        )
        prio[v] = _priority(
            v,
            r,
            (ev, ew, opool, ostart, olen, contracted),
            ipool,
            istart,
            ilen,
            ehops,
            deleted,
            level,
            lim,
        )
        h.append((prio[v], np.int64(v)))
    heapq.heapify(h)
    order = 0
    nbrs = np.empty(16, np.int64)
    while len(h) > 0:
        p, v = heapq.heappop(h)
        if contracted[v] or p != prio[v]:
            continue
        r = _simulate(
            v, eu, (ev, ew, opool, ostart, olen, contracted), ipool, istart, ilen, work, lim
        )
        su, sw, sc, s1, s2, cnt = r
        p2 = _priority(
            v,
            r,
            (ev, ew, opool, ostart, olen, contracted),
            ipool,
            istart,
            ilen,
            ehops,
            deleted,
            level,
            lim,
        )
        stats[0] += 1
        stats[1] = max(stats[1], ilen[v] + olen[v])
        stats[2] += ilen[v] * olen[v]
        if len(h) > 0 and p2 > h[0][0]:
            prio[v] = p2
            heapq.heappush(h, (p2, v))
            continue
        # add or shorten the shortcuts
        for k in range(cnt):
            u, w = su[k], sw[k]
            found = -1
            for j in range(olen[u]):
                e = opool[ostart[u] + j]
                if ev[e] == w:
                    found = e
                    break
            if found >= 0:
                if sc[k] < ew[found]:
                    ew[found], ec1[found], ec2[found] = sc[k], s1[k], s2[k]
                    ehops[found] = ehops[s1[k]] + ehops[s2[k]]
                continue
            if ne == eu.size:
                size = 2 * eu.size
                eu, ev, ew = _grow(eu, size), _grow(ev, size), _grow(ew, size)
                ec1, ec2, ehops = _grow(ec1, size), _grow(ec2, size), _grow(ehops, size)
            eu[ne], ev[ne], ew[ne], ec1[ne], ec2[ne] = u, w, sc[k], s1[k], s2[k]
            ehops[ne] = ehops[s1[k]] + ehops[s2[k]]
            opool, oend = _append(opool, ostart, olen, ocap, oend, u, ne)
            ipool, iend = _append(ipool, istart, ilen, icap, iend, w, ne)
            ne += 1
        # detach v from its neighbours' lists
        nn = ilen[v] + olen[v]
        if nbrs.size < nn:
            nbrs = np.empty(2 * nn, np.int64)
        nn = 0
        for j in range(ilen[v]):
            e = ipool[istart[v] + j]
            _remove(opool, ostart, olen, eu[e], e)
            nbrs[nn] = eu[e]
            nn += 1
        for j in range(olen[v]):
            e = opool[ostart[v] + j]
            _remove(ipool, istart, ilen, ev[e], e)
            nbrs[nn] = ev[e]
            nn += 1
        contracted[v] = True
        rank[v] = order
        order += 1
        k = 0
        for j in range(nn):  # unique neighbours (in and out)
            if not mark[nbrs[j]]:
                mark[nbrs[j]] = True
                nbrs[k] = nbrs[j]
                k += 1
        nn = k
        for j in range(nn):
            mark[nbrs[j]] = False
        for j in range(nn):
            x = nbrs[j]
            deleted[x] += 1.0
            level[x] = max(level[x], level[v] + 1.0)
        for j in range(nn):
            x = nbrs[j]
            if ilen[x] + olen[x] > lim[5]:  # dense core: the lazy check on pop suffices
                continue
            r = _simulate(
                x, eu, (ev, ew, opool, ostart, olen, contracted), ipool, istart, ilen, work, cheap
            )
            px = _priority(
                x,
                r,
                (ev, ew, opool, ostart, olen, contracted),
                ipool,
                istart,
                ilen,
                ehops,
                deleted,
                level,
                lim,
            )
            if px != prio[x]:
                prio[x] = px
                heapq.heappush(h, (px, x))
    return (
        rank,
        eu[:ne].copy(),
        ev[:ne].copy(),
        ew[:ne].copy(),
        ec1[:ne].copy(),
        ec2[:ne].copy(),
        ne,
    )
