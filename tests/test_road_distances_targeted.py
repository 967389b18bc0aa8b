"""The nearest ranking's one-to-many search stops early (geo/routing/targeted.py): the attack is
a stop that comes too soon and reports a longer road distance than the shortest one."""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from geo.routing import targeted


def _csr(n: int, arcs: list[tuple[int, int, float]]) -> csr_matrix:
    """A mode graph's CSR shape: ``n`` real nodes plus the spare virtual last row."""
    u, v, w = zip(*arcs, strict=True)
    return csr_matrix((w, (u, v)), shape=(n + 1, n + 1))


def _reference(csr: csr_matrix, sources: list, targets: list) -> np.ndarray:
    n = csr.shape[0] - 1
    real = csr[:n, :n]
    d = np.full(n, np.inf)
    for s, c in sorted(sources)[:2]:
        d = np.minimum(d, dijkstra(real, indices=s) + max(c, targeted.MIN_START_COST))
    return np.array([min((d[t] + c for t, c in ends), default=np.inf) for ends in targets])


def test_a_target_settled_early_through_a_costly_end_is_not_final() -> None:
    # target 0 has two ends: node 1 (reached at 1.5 s, but 100 s from the place) and node 3
    # (reached at 3.5 s, 0 s from the place): the answer is 3.5, not 101.5
    csr = _csr(4, [(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0)])
    got = targeted.one_to_many(csr, "t1", [(0, 0.5)], [[(1, 100.0), (3, 0.0)]])
    assert got.tolist() == [3.5]


def test_unreachable_targets_and_the_start_node_itself() -> None:
    csr = _csr(5, [(0, 1, 2.0), (1, 0, 2.0), (3, 4, 1.0)])  # 3-4 is another piece
    got = targeted.one_to_many(csr, "t2", [(0, 0.5)], [[(4, 0.0)], [(0, 0.0)], [(1, 1.0)]])
    assert np.isinf(got[0]) and got[1] == 0.5 and got[2] == 3.5


def test_random_graphs_equal_scipy_dijkstra() -> None:
    rng = np.random.default_rng(15)
    for trial in range(30):
        n = int(rng.integers(5, 60))
        m = int(rng.integers(n, 4 * n))
        arcs = {
            (int(a), int(b)): float(w)
            for a, b, w in zip(
                rng.integers(0, n, m), rng.integers(0, n, m), rng.uniform(0.0, 10.0, m), strict=True
            )
            if a != b
        }
        csr = _csr(n, [(a, b, w) for (a, b), w in arcs.items()])
        sources = [(int(rng.integers(n)), float(rng.uniform(0, 3))) for _ in range(2)]
        targets = [
            [
                (int(rng.integers(n)), float(rng.uniform(0, 5)))
                for _ in range(int(rng.integers(1, 3)))
            ]
            for _ in range(int(rng.integers(1, 8)))
        ]
        got = targeted.one_to_many(csr, ("random", trial), sources, targets)
        want = _reference(csr, sources, targets)
        assert np.array_equal(np.isfinite(got), np.isfinite(want))
        ok = np.isfinite(want)
        assert np.allclose(got[ok], want[ok], rtol=1e-12, atol=1e-12)
