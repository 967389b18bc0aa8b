"""Siting new cameras (MCLP): sparse coverage matrix, lazy greedy vs exact MILP, spopt, and the DB path."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.bbox import BBox
from geo.errors import InvalidInput
from geo.siting import (
    coverage_matrix,
    exact_mclp,
    greedy_mclp,
    reduce_problem,
    site_cameras,
)

# Daejeon (Yuseong): the bundled accidents and Daejeon's arterial roads
YUSEONG = BBox(127.33, 36.35, 127.36, 36.37)


def _trap() -> tuple[sp.csr_matrix, np.ndarray]:
    """Greedy's classic trap, k=2. Candidate 0 covers d0..d3 (weight 4), candidate 1 covers
    d0, d1, d4 and candidate 2 covers d2, d3, d5 (weight 3 each). Greedy takes 0 then adds 1 (=5);
    the optimum is {1, 2} = 6."""
    cover = {0: [0, 1, 2, 3], 1: [0, 1, 4], 2: [2, 3, 5]}
    rows, cols = [], []
    for j, ds in cover.items():
        rows += ds
        cols += [j] * len(ds)
    a = sp.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(6, 3))
    return a, np.ones(6)


def test_greedy_vs_exact_on_known_optimum() -> None:
    a, w = _trap()
    g = greedy_mclp(a, w, 2)
    e = exact_mclp(a, w, 2, time_limit_s=10)
    assert g.sites[0] == 0 and g.gains == [4.0, 1.0] and g.objective == 5.0
    assert e.status == "optimal" and e.objective == 6.0 and sorted(e.sites) == [1, 2]
    assert e.upper_bound == pytest.approx(6.0)
    # greedy's own bound is a true upper bound of the optimum
    assert g.upper_bound >= e.objective
    assert sum(e.gains) == e.objective


def test_greedy_bound_and_exact_agree_when_everything_fits() -> None:
    a, w = _trap()
    g = greedy_mclp(a, w, 3)
    assert g.objective == 6.0 and g.upper_bound == 6.0 and g.gap == 0.0


def test_coverage_matrix_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    d = rng.uniform(0, 1000, (300, 2))
    c = rng.uniform(0, 1000, (40, 2))
    a = coverage_matrix(d, c, 120.0).toarray().astype(bool)
    assert (a == (cdist(d, c) <= 120.0)).all()


def test_reduce_problem_keeps_the_optimum() -> None:
    rng = np.random.default_rng(3)
    d = np.round(rng.uniform(0, 500, (200, 2)) / 50) * 50  # many repeated locations
    c = rng.uniform(0, 500, (25, 2))
    a = coverage_matrix(d, c, 90.0)
    w = rng.integers(1, 4, 200).astype(float)
    ar, wr, row_of = reduce_problem(a, w)
    assert ar.shape[0] < a.shape[0] and wr.sum() == w[np.asarray(a.sum(axis=1)).ravel() > 0].sum()
    full = exact_mclp(a, w, 4, time_limit_s=10)
    red = exact_mclp(ar, wr, 4, time_limit_s=10)
    assert full.objective == pytest.approx(red.objective)
    assert (row_of >= 0).sum() == (np.asarray(a.sum(axis=1)).ravel() > 0).sum()


def test_exact_matches_spopt_mclp() -> None:
    """Same small instance solved by PySAL spopt's MCLP (PuLP/CBC on a dense cost matrix)."""
    pulp = pytest.importorskip("pulp")
    spopt_locate = pytest.importorskip("spopt.locate")
    rng = np.random.default_rng(42)
    d = rng.uniform(0, 2000, (150, 2))
    c = rng.uniform(0, 2000, (30, 2))
    w = rng.integers(1, 6, 150).astype(float)
    radius, k = 250.0, 5
    model = spopt_locate.MCLP.from_cost_matrix(
        cdist(d, c), w, service_radius=radius, p_facilities=k
    )
    model = model.solve(pulp.PULP_CBC_CMD(msg=False))
    spopt_obj = float(pulp.value(model.problem.objective))
    a = coverage_matrix(d, c, radius)
    e = exact_mclp(a, w, k, time_limit_s=20)
    g = greedy_mclp(a, w, k)
    assert e.objective == pytest.approx(spopt_obj)
    assert g.objective <= e.objective + 1e-9 and g.objective >= (1 - 1 / np.e) * e.objective


def test_site_cameras_daejeon_falls_back_to_grid(session: Session) -> None:
    auto = site_cameras(session, k=5, radius_m=50, bbox=YUSEONG, purposes=["crime_prevention"])
    assert auto["candidate_source"] == "road_nodes"  # Daejeon's arterial roads are loaded
    r = site_cameras(
        session,
        k=5,
        radius_m=50,
        bbox=YUSEONG,
        purposes=["crime_prevention"],
        method="both",
        candidate_source="grid",
    )
    assert r["candidate_source"] == "grid"
    assert r["metric_crs"] == "EPSG:5179"
    assert len(r["sites"]) == 5
    gains = [s["marginal_gain"] for s in r["sites"]]
    assert gains == sorted(gains, reverse=True) and sum(gains) == r["objective"]
    assert r["solutions"]["exact"]["objective"] >= r["solutions"]["greedy"]["objective"]
    assert r["coverage_after"]["weight"] == r["coverage_before"]["weight"] + r["objective"]
    assert 0 <= r["optimality_gap"] <= 1
    # each proposed site lies in the bbox area and covers demand
    for s in r["sites"]:
        assert YUSEONG.min_lon - 0.01 < s["lon"] < YUSEONG.max_lon + 0.01
        assert s["covers_total"] >= s["marginal_gain"] > 0


def test_site_cameras_given_candidates_and_incident_source(session: Session) -> None:
    pts = session.execute(
        text(
            "select st_x(geom), st_y(geom) from incidents where geom && "
            "st_makeenvelope(127.33, 36.35, 127.36, 36.37, 4326) order by id limit 3"
        )
    ).all()
    given = [(float(x), float(y)) for x, y in pts]
    r = site_cameras(session, k=2, radius_m=80, candidates=given, bbox=YUSEONG, method="exact")
    assert r["candidate_source"] == "given" and r["candidates"] == 3
    assert all((s["lon"], s["lat"]) in given for s in r["sites"])
    r2 = site_cameras(
        session, k=3, radius_m=80, candidate_source="incidents", bbox=YUSEONG, method="greedy"
    )
    assert r2["candidate_source"] == "incidents" and "exact" not in r2["solutions"]


def test_exclude_covered_counts_only_new_coverage(session: Session) -> None:
    inc = site_cameras(session, k=3, radius_m=50, bbox=YUSEONG, exclude_covered=False)
    exc = site_cameras(session, k=3, radius_m=50, bbox=YUSEONG, exclude_covered=True)
    assert exc["demand"]["already_covered"] == inc["demand"]["already_covered"] > 0
    assert exc["coverage_after"]["weight"] >= inc["coverage_after"]["weight"]


def test_site_cameras_on_road_intersections(session: Session) -> None:
    """Where roads are loaded (Helsinki), the default candidates are road intersections."""
    nodes = session.execute(
        text(
            "select st_x(geom), st_y(geom) from road_nodes where street_count >= 3 "
            "order by id limit 5"
        )
    ).all()
    if not nodes:
        pytest.skip("no road network loaded in the test database")
    for i, (x, y) in enumerate(nodes):
        session.execute(
            text(
                "insert into incidents (kind, occurred_at, geom, source, external_id) values "
                "('police', '2024-05-01T12:00:00Z', st_setsrid(st_makepoint(:x, :y), 4326), "
                "'test-siting', :e)"
            ),
            {"x": float(x) + 0.0001, "y": float(y), "e": f"s{i}"},
        )
    xs = [float(n[0]) for n in nodes]
    ys = [float(n[1]) for n in nodes]
    box = BBox(min(xs) - 0.001, min(ys) - 0.001, max(xs) + 0.001, max(ys) + 0.001)
    r = site_cameras(session, k=1, radius_m=30, bbox=box, kind="police", exclude_covered=False)
    assert r["candidate_source"] == "road_nodes"
    assert r["metric_crs"].startswith("EPSG:326")  # UTM north, chosen from the data
    assert r["objective"] >= 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k": 0}, "k"),
        ({"k": 5000}, "k"),
        ({"k": 5, "radius_m": 0}, "radius_m"),
        ({"k": 5, "radius_m": -3}, "radius_m"),
        ({"k": 5, "method": "magic"}, "method"),
        ({"k": 5, "bbox": BBox(10.0, 10.0, 10.01, 10.01)}, "bbox"),
        ({"k": 5, "candidates": [(500.0, 1.0)]}, "candidates[0].lon"),
        ({"k": 2, "candidates": [(127.34, 36.36)], "bbox": YUSEONG}, "k"),
        (
            {"k": 5, "grid_spacing_m": 0.5, "bbox": YUSEONG, "candidate_source": "grid"},
            "grid_spacing_m",
        ),
    ],
)
def test_bad_parameters_name_the_field(session: Session, kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as ei:
        site_cameras(session, **kwargs)
    assert ei.value.field == field
