"""geo.pathfinding (contraction hierarchies) against scipy's Dijkstra on awkward graphs.

Each test is a graph that could fool a shortcut or a query: one-way arcs, parts that do not
reach each other, zero-cost arcs, parallel arcs and loops, ties everywhere (unit grids), and
snapped places that start from two nodes at different costs. Costs must equal scipy's to 1e-9
(relative); every returned path must use existing arcs and add up to its cost.
"""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

import geo.pathfinding as P


def _csr(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    order = np.argsort(u, kind="stable")
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=ptr[1:])
    return ptr, v[order].astype(np.int64), w[order].astype(np.float64)


def _reference(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> tuple[sp.csr_matrix, dict]:
    """scipy CSR with the cheapest of parallel arcs (explicit zeros kept) and an arc-cost dict."""
    best: dict[tuple[int, int], float] = {}
    for a, b, c in zip(u.tolist(), v.tolist(), w.tolist(), strict=True):
        if a != b and c < best.get((a, b), np.inf):
            best[(a, b)] = c
    keys = sorted(best)
    rows = np.array([k[0] for k in keys], np.int64)
    ptr, idx, data = _csr(
        n, rows, np.array([k[1] for k in keys]), np.array([best[k] for k in keys])
    )
    return sp.csr_matrix((data, idx, ptr), shape=(n, n)), best


def _random_graph(seed: int, n: int = 240) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Two separate random parts (one-way arcs), isolated nodes, zeros, duplicates, loops."""
    rng = np.random.default_rng(seed)
    half = n // 2 - 5
    us, vs = [], []
    for lo in (0, half):
        m = 4 * half
        us.append(rng.integers(lo, lo + half, m))
        vs.append(rng.integers(lo, lo + half, m))
    u, v = np.concatenate(us), np.concatenate(vs)
    w = rng.random(u.size) * 100
    w[rng.random(u.size) < 0.15] = 0.0
    dup = rng.choice(u.size, u.size // 10, replace=False)  # parallel arcs, other costs
    u, v = np.concatenate([u, u[dup]]), np.concatenate([v, v[dup]])
    w = np.concatenate([w, rng.random(dup.size) * 100])
    loops = rng.integers(0, n, 5)
    u, v, w = (
        np.concatenate([u, loops]),
        np.concatenate([v, loops]),
        np.concatenate([w, np.ones(5)]),
    )
    return n, u, v, w


def _grid(side: int, seed: int, unit: bool) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """A street grid, 15 % of the blocks one-way; unit costs make every tie a trap."""
    rng = np.random.default_rng(seed)
    us, vs, ws = [], [], []
    for i in range(side):
        for j in range(side):
            a = i * side + j
            for b in ((a + 1) if j + 1 < side else -1, (a + side) if i + 1 < side else -1):
                if b < 0:
                    continue
                c = 1.0 if unit else 50 + 100 * rng.random()
                one_way = rng.random() < 0.15
                us.append(a)
                vs.append(b)
                ws.append(c)
                if not one_way:
                    us.append(b)
                    vs.append(a)
                    ws.append(c)
    return side * side, np.array(us), np.array(vs), np.array(ws)


def _places(rng: np.random.Generator, n: int, k: int) -> list[list[tuple[int, float]]]:
    """k places of one or two (node, cost) pairs, like a point snapped onto an edge."""
    out = []
    for _ in range(k):
        m = int(rng.integers(1, 3))
        out.append([(int(rng.integers(0, n)), float(rng.random() * 20)) for _ in range(m)])
    return out


def _expected(D: np.ndarray, node_row: dict, src: list, dst: list) -> float:
    return min(cs + D[node_row[a], b] + ct for a, cs in src for b, ct in dst)


def _check_path(best: dict, src: list, dst: list, cost: float, path: np.ndarray) -> None:
    start = min(c for a, c in src if a == path[0])
    end = min(c for b, c in dst if b == path[-1])
    total = (
        start + end + sum(best[(int(a), int(b))] for a, b in zip(path[:-1], path[1:], strict=True))
    )
    assert total == pytest.approx(cost, rel=1e-9, abs=1e-9)


def _compare(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray, seed: int, k: int = 40) -> None:
    p = P.prepare(*_csr(n, u, v, w))
    ref, best = _reference(n, u, v, w)
    rng = np.random.default_rng(seed)
    srcs, dsts = _places(rng, n, k), _places(rng, n, k)
    nodes = sorted({a for s in srcs for a, _ in s})
    D = dijkstra(ref, directed=True, indices=nodes)
    row = {a: i for i, a in enumerate(nodes)}
    reached = 0
    for src, dst in zip(srcs, dsts, strict=True):
        want = _expected(D, row, src, dst)
        if not np.isfinite(want):
            with pytest.raises(P.NoPath):
                P.one_to_one(p, src, dst)
            continue
        reached += 1
        cost, path = P.one_to_one(p, src, dst)
        assert cost == pytest.approx(want, rel=1e-9, abs=1e-9)
        _check_path(best, src, dst, cost, path)
    assert reached >= k // 4  # the pairs were not all trivially unreachable
    M = P.many_to_many(p, srcs, dsts)
    want_m = np.array([[_expected(D, row, s, t) for t in dsts] for s in srcs])
    assert np.array_equal(np.isinf(M), np.isinf(want_m))
    fin = np.isfinite(want_m)
    np.testing.assert_allclose(M[fin], want_m[fin], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(P.one_to_many(p, srcs[0], dsts), M[0], rtol=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_directed_graphs_with_traps_match_dijkstra(seed: int) -> None:
    _compare(*_random_graph(seed), seed=seed)


@pytest.mark.parametrize("unit", [True, False])
def test_one_way_street_grids_match_dijkstra(unit: bool) -> None:
    _compare(*_grid(25, seed=7, unit=unit), seed=11)


def test_start_and_end_on_the_same_node_costs_both_offsets() -> None:
    n, u, v, w = _grid(5, seed=1, unit=True)
    p = P.prepare(*_csr(n, u, v, w))
    cost, path = P.one_to_one(p, [(6, 2.0)], [(6, 3.0)])
    assert cost == 5.0 and path.tolist() == [6]


def test_cut_off_part_and_isolated_node_raise_no_path() -> None:
    u, v, w = np.array([0, 1, 3]), np.array([1, 0, 4]), np.array([1.0, 1.0, 2.0])
    p = P.prepare(*_csr(6, u, v, w))
    for dst in ([(3, 0.0)], [(5, 0.0)]):
        with pytest.raises(P.NoPath):
            P.one_to_one(p, [(0, 0.0)], dst)
    with pytest.raises(P.NoPath):  # one-way: 4 cannot go back to 3
        P.one_to_one(p, [(4, 0.0)], [(3, 0.0)])
    assert np.isinf(P.one_to_many(p, [(0, 0.0)], [[(3, 0.0)], [(1, 0.5)]])).tolist() == [
        True,
        False,
    ]


def test_bad_input_is_refused() -> None:
    n, u, v, w = _grid(4, seed=1, unit=True)
    ptr, idx, ww = _csr(n, u, v, w)
    with pytest.raises(ValueError):
        P.prepare(ptr, idx, -ww)
    with pytest.raises(ValueError):
        P.prepare(ptr, idx + n, ww)
    p = P.prepare(ptr, idx, ww)
    with pytest.raises(ValueError):
        P.one_to_one(p, [(n, 0.0)], [(0, 0.0)])
    with pytest.raises(ValueError):
        P.one_to_one(p, [(0, float("nan"))], [(1, 0.0)])
    with pytest.raises(P.NoPath):
        P.one_to_one(p, [], [(1, 0.0)])


def test_prepared_survives_pickle_and_serves_threads_alike() -> None:
    n, u, v, w = _grid(20, seed=3, unit=False)
    p = pickle.loads(pickle.dumps(P.prepare(*_csr(n, u, v, w))))
    rng = np.random.default_rng(5)
    srcs, dsts = _places(rng, n, 30), _places(rng, n, 30)
    want = P.many_to_many(p, srcs, dsts)
    got: list[np.ndarray] = []

    def work() -> None:
        rows = [P.one_to_many(p, s, dsts) for s in srcs]
        rows[0] = np.array([P.one_to_one(p, srcs[0], t)[0] for t in dsts])  # its own scratch
        got.append(np.array(rows))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 3
    for g in got:
        np.testing.assert_allclose(g, want, rtol=1e-12)


def _two_way_grid(
    side: int, seed: int, unit: bool
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """A street grid with every block both ways at the same cost: the symmetric contraction."""
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    c = np.ones(a.size) if unit else 50 + 100 * rng.random(a.size)
    return side * side, np.concatenate([a, b]), np.concatenate([b, a]), np.concatenate([c, c])


@pytest.mark.parametrize("unit", [True, False])
def test_two_way_grids_decided_pairwise_match_dijkstra(unit: bool) -> None:
    """The symmetric contraction decides each pair of neighbours once for both directions: a
    shortcut it wrongly skipped in one direction would show up as a wrong cost here."""
    n, u, v, w = _two_way_grid(30, seed=5, unit=unit)
    assert P.prepare(*_csr(n, u, v, w)).extra["symmetric"] == 1.0
    _compare(n, u, v, w, seed=13, k=60)


def test_one_way_arc_turns_the_symmetric_contraction_off() -> None:
    """One reverse arc dearer than its twin: the graph is not symmetric, and the costs that
    depend on that arc's direction still come out right."""
    n, u, v, w = _two_way_grid(30, seed=6, unit=False)
    w = w.copy()
    w[0] += 0.5  # its reverse keeps the old cost
    assert P.prepare(*_csr(n, u, v, w)).extra["symmetric"] == 0.0
    _compare(n, u, v, w, seed=17, k=60)
    ref, _ = _reference(n, u, v, w)
    p = P.prepare(*_csr(n, u, v, w))
    D = dijkstra(ref, directed=True, indices=[int(u[0]), int(v[0])])
    assert P.one_to_one(p, [(int(u[0]), 0.0)], [(int(v[0]), 0.0)])[0] == pytest.approx(
        D[0, v[0]], rel=1e-12
    )
    assert P.one_to_one(p, [(int(v[0]), 0.0)], [(int(u[0]), 0.0)])[0] == pytest.approx(
        D[1, u[0]], rel=1e-12
    )
