# mypy: ignore-errors
# (numba kernels: plain arrays and scalars, typed by numba at compile time)
"""Contraction-hierarchy queries (numba): bidirectional upward search and bucket many-to-many.

Graphs (CSR over nodes, arcs only towards higher rank):

* ``up``   node ``x`` -> higher ``y`` for an arc ``x -> y``   (the forward search climbs it);
* ``down`` node ``x`` -> higher ``y`` for an arc ``y -> x``   (the backward search climbs it).

Both searches stall on demand: a node reached at ``d`` whose higher neighbour in the other graph
offers a cheaper way in (``dist[y] + w < d``) is not expanded (its label cannot be on a shortest
up-down path). Each search keeps its scratch arrays clean: what it touched it resets.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit

from geo.pathfinding import heap as _h


@njit(cache=True, nogil=True)
def _stalled(x, d, dist, s_ptr, s_head, s_w):
    for k in range(s_ptr[x], s_ptr[x + 1]):  # noqa: SIM110 (numba: no generators)
        if dist[s_head[k]] + s_w[k] < d:
            return True
    return False


@njit(cache=True, nogil=True)
def _seed(nodes, costs, dist, par, touched, h):
    nt = 0
    for i in range(nodes.size):
        x, c = nodes[i], costs[i]
        if dist[x] == np.inf:
            touched[nt] = x
            nt += 1
        if c < dist[x]:
            dist[x] = c
            par[x] = -1
            heapq.heappush(h, (c, x))
    return nt


@njit(cache=True, nogil=True)
def _seed_ix(nodes, costs, dist, par, touched, hk, hi, hp):
    """Seed one direction's indexed heap; returns (touched count, heap size)."""
    nt = 0
    size = 0
    for i in range(nodes.size):
        x, c = nodes[i], costs[i]
        if dist[x] == np.inf:
            touched[nt] = x
            nt += 1
        if c < dist[x]:
            dist[x] = c
            par[x] = -1
            size = _h.push(hk, hi, hp, size, x, c)
    return nt, size


@njit(cache=True, nogil=True)
def one_to_one(
    s_nodes,
    s_costs,
    t_nodes,
    t_costs,
    u_ptr,
    u_head,
    u_w,
    u_eid,
    d_ptr,
    d_head,
    d_w,
    d_eid,
    df,
    db,
    pf,
    pb,
    tf,
    tb,
    hk,
    hx,
):
    """Cheapest cost from the seeds to the targets: (cost, meeting node, touched forward,
    touched backward); inf, -1 if none. ``hk`` (2, n) and ``hx`` (4, n): the two directions'
    indexed heaps (keys; items, items, slots, slots; slots all -1 between queries): one entry
    per node with decrease-key, about a quarter faster than ``heapq``'s tuples with stale
    entries (benchmarks/routing.py figures in docs/benchmarks.md)."""
    kf, kb, itf, itb, psf, psb = hk[0], hk[1], hx[0], hx[1], hx[2], hx[3]
    nf, sf = _seed_ix(s_nodes, s_costs, df, pf, tf, kf, itf, psf)
    nb, sb = _seed_ix(t_nodes, t_costs, db, pb, tb, kb, itb, psb)
    best, meet = np.inf, np.int64(-1)
    while True:
        go_f = sf > 0 and kf[0] < best
        go_b = sb > 0 and kb[0] < best
        if not go_f and not go_b:
            break
        if go_f and (not go_b or kf[0] <= kb[0]):
            d, x, sf = _h.pop(kf, itf, psf, sf)
            if d + db[x] < best:
                best, meet = d + db[x], x
            if _stalled(x, d, df, d_ptr, d_head, d_w):
                continue
            for k in range(u_ptr[x], u_ptr[x + 1]):
                y = u_head[k]
                nd = d + u_w[k]
                if nd < df[y]:
                    if df[y] == np.inf:
                        tf[nf] = y
                        nf += 1
                    df[y] = nd
                    pf[y] = u_eid[k]
                    sf = _h.push(kf, itf, psf, sf, y, nd)
        else:
            d, x, sb = _h.pop(kb, itb, psb, sb)
            if d + df[x] < best:
                best, meet = d + df[x], x
            if _stalled(x, d, db, u_ptr, u_head, u_w):
                continue
            for k in range(d_ptr[x], d_ptr[x + 1]):
                y = d_head[k]
                nd = d + d_w[k]
                if nd < db[y]:
                    if db[y] == np.inf:
                        tb[nb] = y
                        nb += 1
                    db[y] = nd
                    pb[y] = d_eid[k]
                    sb = _h.push(kb, itb, psb, sb, y, nd)
    _h.clear(itf, psf, sf)
    _h.clear(itb, psb, sb)
    return best, meet, nf, nb


@njit(cache=True, nogil=True)
def path_arcs(meet, pf, pb, eu, ev):
    """The pool arcs of the up-down path through ``meet`` (call before the scratch is reset)."""
    back = []
    x = meet
    while pf[x] >= 0:
        e = pf[x]
        back.append(e)
        x = eu[e]
    out = back[::-1]
    x = meet
    while pb[x] >= 0:
        e = pb[x]
        out.append(e)
        x = ev[e]
    return np.array(out, dtype=np.int64)


@njit(cache=True, nogil=True)
def unpack(arcs, first, eu, ev, ec1, ec2):
    """Original node path of a chain of pool arcs starting at node ``first``."""
    out = [first]
    stack = [np.int64(0)]
    stack.pop()
    for i in range(arcs.size):
        stack.append(arcs[i])
        while len(stack) > 0:
            e = stack.pop()
            if ec1[e] < 0:
                out.append(ev[e])
            else:
                stack.append(ec2[e])
                stack.append(ec1[e])
    return np.array(out, dtype=np.int64)


@njit(cache=True, nogil=True)
def reset(touched, count, dist):
    for i in range(count):
        dist[touched[i]] = np.inf


@njit(cache=True, nogil=True)
def _upward(nodes, costs, r_ptr, r_head, r_w, s_ptr, s_head, s_w, dist, par, touched, out_x, out_d):
    """Whole upward search from seeds; the settled unstalled nodes go to out_x/out_d (count)."""
    h = [(0.0, np.int64(0))]
    h.pop()
    nt = _seed(nodes, costs, dist, par, touched, h)
    no = 0
    while len(h) > 0:
        d, x = heapq.heappop(h)
        if d > dist[x]:
            continue
        if _stalled(x, d, dist, s_ptr, s_head, s_w):
            continue
        out_x[no] = x
        out_d[no] = d
        no += 1
        for k in range(r_ptr[x], r_ptr[x + 1]):
            y = r_head[k]
            nd = d + r_w[k]
            if nd < dist[y]:
                if dist[y] == np.inf:
                    touched[nt] = y
                    nt += 1
                dist[y] = nd
                heapq.heappush(h, (nd, y))
    for i in range(nt):
        dist[touched[i]] = np.inf
    return no


@njit(cache=True, nogil=True)
def many_to_many(
    s_ptr,
    s_nodes,
    s_costs,
    t_ptr,
    t_nodes,
    t_costs,
    u_ptr,
    u_head,
    u_w,
    d_ptr,
    d_head,
    d_w,
    dist,
    par,
    touched,
    out_x,
    out_d,
    b_first,
    b_count,
):
    """Cost matrix sources x targets (inf where none): one upward search per seed set, buckets."""
    ns, nt = s_ptr.size - 1, t_ptr.size - 1
    res = np.full((ns, nt), np.inf)
    bx = np.empty(16, np.int64)
    bj = np.empty(16, np.int64)
    bd = np.empty(16, np.float64)
    nbk = 0
    for j in range(nt):
        a, b = t_ptr[j], t_ptr[j + 1]
        no = _upward(
            t_nodes[a:b],
            t_costs[a:b],
            d_ptr,
            d_head,
            d_w,
            u_ptr,
            u_head,
            u_w,
            dist,
            par,
            touched,
            out_x,
            out_d,
        )
        if nbk + no > bx.size:
            size = 2 * (nbk + no)
            bx2, bj2, bd2 = np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size)
            bx2[:nbk], bj2[:nbk], bd2[:nbk] = bx[:nbk], bj[:nbk], bd[:nbk]
            bx, bj, bd = bx2, bj2, bd2
        for i in range(no):
            bx[nbk], bj[nbk], bd[nbk] = out_x[i], j, out_d[i]
            nbk += 1
    order = np.argsort(bx[:nbk], kind="mergesort")
    bx, bj, bd = bx[order], bj[order], bd[order]
    for k in range(nbk):
        if b_count[bx[k]] == 0:
            b_first[bx[k]] = k
        b_count[bx[k]] += 1
    for i in range(ns):
        a, b = s_ptr[i], s_ptr[i + 1]
        no = _upward(
            s_nodes[a:b],
            s_costs[a:b],
            u_ptr,
            u_head,
            u_w,
            d_ptr,
            d_head,
            d_w,
            dist,
            par,
            touched,
            out_x,
            out_d,
        )
        for q in range(no):
            x, d = out_x[q], out_d[q]
            f = b_first[x]
            for k in range(f, f + b_count[x]):
                c = d + bd[k]
                if c < res[i, bj[k]]:
                    res[i, bj[k]] = c
    for k in range(nbk):
        b_count[bx[k]] = 0
    return res


@njit(cache=True, nogil=True)
def route(
    s_nodes,
    s_costs,
    t_nodes,
    t_costs,
    u_ptr,
    u_head,
    u_w,
    u_eid,
    d_ptr,
    d_head,
    d_w,
    d_eid,
    eu,
    ev,
    ec1,
    ec2,
    df,
    db,
    pf,
    pb,
    tf,
    tb,
    hk,
    hx,
):
    """``one_to_one`` + the unpacked node path + clean scratch, in one call: (cost, path)."""
    best, meet, nf, nb = one_to_one(
        s_nodes,
        s_costs,
        t_nodes,
        t_costs,
        u_ptr,
        u_head,
        u_w,
        u_eid,
        d_ptr,
        d_head,
        d_w,
        d_eid,
        df,
        db,
        pf,
        pb,
        tf,
        tb,
        hk,
        hx,
    )
    path = np.empty(0, np.int64)
    if meet >= 0 and best < np.inf:
        arcs = path_arcs(meet, pf, pb, eu, ev)
        first = eu[arcs[0]] if arcs.size > 0 else meet
        path = unpack(arcs, first, eu, ev, ec1, ec2)
    reset(tf, nf, df)
    reset(tb, nb, db)
    return best, path
