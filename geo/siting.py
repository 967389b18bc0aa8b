"""Siting new cameras: the maximal covering location problem (MCLP) over incident demand.

Choose ``k`` sites among candidates so that the incident weight within ``radius_m`` of a chosen
site is as large as possible. Demand already inside an existing camera's view (``camera_views``,
the one view model of :mod:`geo.views`) can be left out, so the answer is what *new* cameras add.

The coverage matrix is sparse (demand x candidates, built with a ``cKDTree`` in a metric CRS:
EPSG:5179 in Korea, the UTM zone elsewhere, see :mod:`geo.crs`). Two solvers share it:

* :func:`greedy_mclp`: lazy greedy (a max-heap of stale marginal gains). It is within ``1 - 1/e``
  of the optimum in theory and usually within a fraction of a percent in practice; it also gives a
  data-dependent upper bound (the greedy value plus the ``k`` largest marginal gains at any step,
  which bounds the optimum because coverage is submodular).
* :func:`exact_mclp`: the MILP with :func:`scipy.optimize.milp` (HiGHS) under a time limit; reports
  HiGHS's dual bound and ``mip_gap``.

Demand points with identical candidate sets are merged (their weights add up) before solving,
which shrinks the MILP a lot when incidents repeat at the same junction.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from pyproj import Transformer
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.spatial import cKDTree
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.bbox import BBox, check_lat_lon
from geo.coverage import check_filters, incident_coverage
from geo.crs import held_by_crs, metric_crs_for_points
from geo.errors import InvalidInput

MAX_K = 1000
MAX_RADIUS_M = 5000.0
MAX_CANDIDATES = 50_000
METHODS = ("greedy", "exact", "both")
CANDIDATE_SOURCES = ("auto", "given", "road_nodes", "grid", "incidents")


# ---------------------------------------------------------------------------------------------
# the pure problem


def coverage_matrix(
    demand_xy: np.ndarray, candidate_xy: np.ndarray, radius_m: float
) -> sp.csr_matrix:
    """Sparse 0/1 matrix ``A[i, j] = 1`` when demand ``i`` is within ``radius_m`` of candidate ``j``.

    Both inputs are ``(n, 2)`` arrays in the same metric CRS (metres).
    """
    n, m = len(demand_xy), len(candidate_xy)
    if n == 0 or m == 0:
        return sp.csr_matrix((n, m), dtype=np.int8)
    ctree = cKDTree(candidate_xy)
    lists = ctree.query_ball_point(demand_xy, r=radius_m)
    lens = np.fromiter((len(x) for x in lists), dtype=np.int64, count=n)
    rows = np.repeat(np.arange(n), lens)
    cols = (
        np.concatenate([np.asarray(x, dtype=np.int64) for x in lists])
        if lens.sum()
        else np.empty(0, np.int64)
    )
    a = sp.csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n, m))
    a.sum_duplicates()
    return a


def reduce_problem(
    a: sp.csr_matrix, weights: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Drop demand no candidate covers and merge demand rows with identical candidate sets.

    Returns ``(A', w', row_of)`` where ``row_of[i]`` is the reduced row of original demand ``i``
    (``-1`` when dropped). The optimum of the reduced problem equals the original's.
    """
    a = sp.csr_matrix(a)
    a.sort_indices()
    keys: dict[bytes, int] = {}
    row_of = np.full(a.shape[0], -1, dtype=np.int64)
    new_rows: list[np.ndarray] = []
    w_new: list[float] = []
    for i in range(a.shape[0]):
        idx = a.indices[a.indptr[i] : a.indptr[i + 1]]
        if idx.size == 0 or weights[i] <= 0:
            continue
        key = idx.tobytes()
        r = keys.get(key)
        if r is None:
            r = keys[key] = len(new_rows)
            new_rows.append(idx)
            w_new.append(0.0)
        w_new[r] += float(weights[i])
        row_of[i] = r
    if not new_rows:
        return sp.csr_matrix((0, a.shape[1]), dtype=np.int8), np.zeros(0), row_of
    lens = np.array([r.size for r in new_rows])
    indptr = np.concatenate([[0], np.cumsum(lens)])
    ar = sp.csr_matrix(
        (np.ones(int(indptr[-1]), dtype=np.int8), np.concatenate(new_rows), indptr),
        shape=(len(new_rows), a.shape[1]),
    )
    return ar, np.asarray(w_new, dtype=float), row_of


@dataclass
class Solution:
    """Chosen sites (candidate indices, in the order chosen), their gains and the bound."""

    method: str
    sites: list[int]
    gains: list[float]
    objective: float
    upper_bound: float
    seconds: float
    status: str = "optimal"
    mip_gap: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """Relative optimality gap ``(bound - objective) / bound`` (0 when proven optimal)."""
        if self.upper_bound <= 0:
            return 0.0
        return max(0.0, (self.upper_bound - self.objective) / self.upper_bound)


def greedy_mclp(a: sp.csr_matrix, weights: np.ndarray, k: int) -> Solution:
    """Lazy greedy MCLP: repeatedly add the candidate with the largest uncovered weight.

    Also returns the submodular upper bound ``min_t f(S_t) + sum of the k largest marginal gains
    w.r.t. S_t`` (Nemhauser-Wolsey-Fisher / Minoux), computed at every step for free.
    """
    t0 = time.perf_counter()
    a = sp.csr_matrix(a)
    at = a.T.tocsr()  # candidate -> demand rows
    w = np.asarray(weights, dtype=float)
    covered = np.zeros(a.shape[0], dtype=bool)
    gain0 = np.asarray(at @ w).ravel() if a.shape[0] else np.zeros(a.shape[1])
    heap = [(-g, j) for j, g in enumerate(gain0) if g > 0]
    heapq.heapify(heap)
    sites: list[int] = []
    gains: list[float] = []
    total = 0.0
    bound = float(np.sort(gain0)[::-1][:k].sum()) if gain0.size else 0.0
    while heap and len(sites) < k:
        neg, j = heapq.heappop(heap)
        rows = at.indices[at.indptr[j] : at.indptr[j + 1]]
        g = float(w[rows[~covered[rows]]].sum())
        if heap and g < -heap[0][0] - 1e-12:
            if g > 0:
                heapq.heappush(heap, (-g, j))
            continue
        if g <= 0:
            break
        sites.append(j)
        gains.append(g)
        covered[rows] = True
        total += g
        if len(sites) < k:
            # stale heap values are upper bounds of the true gains: still a valid bound
            top = heapq.nsmallest(k, heap)
            bound = min(bound, total + float(-sum(x[0] for x in top)))
    if not heap or len(sites) < k:
        bound = total  # nothing left that adds weight: greedy is optimal
    bound = max(min(bound, float(w.sum())), total)
    return Solution(
        method="greedy",
        sites=sites,
        gains=gains,
        objective=total,
        upper_bound=bound,
        seconds=time.perf_counter() - t0,
        status="heuristic",
    )


def exact_mclp(
    a: sp.csr_matrix, weights: np.ndarray, k: int, *, time_limit_s: float = 30.0
) -> Solution:
    """MCLP as a MILP with SciPy's HiGHS: ``max w.y`` s.t. ``y <= A x``, ``sum x = k``, ``x`` binary.

    ``y`` may be continuous in [0, 1]: at the optimum it is 1 exactly where demand is covered.
    Stops at ``time_limit_s`` with the best solution found and HiGHS's dual bound.
    """
    t0 = time.perf_counter()
    a = sp.csr_matrix(a, dtype=float)
    n, m = a.shape
    w = np.asarray(weights, dtype=float)
    k_eff = min(k, m)
    # variables: x (m candidates), then y (n demand)
    c = np.concatenate([np.zeros(m), -w])
    integrality = np.concatenate([np.ones(m), np.zeros(n)])
    cover = sp.hstack([-a, sp.identity(n, format="csr")], format="csr")  # y - A x <= 0
    card = sp.csr_matrix(np.concatenate([np.ones(m), np.zeros(n)])[None, :])
    cons = [
        LinearConstraint(cover, -np.inf, 0.0),
        LinearConstraint(card, k_eff, k_eff),
    ]
    res = milp(
        c,
        integrality=integrality,
        bounds=Bounds(0.0, 1.0),
        constraints=cons,
        options={"time_limit": float(time_limit_s), "disp": False, "mip_rel_gap": 1e-6},
    )
    seconds = time.perf_counter() - t0
    if res.x is None:
        return Solution(
            method="exact",
            sites=[],
            gains=[],
            objective=0.0,
            upper_bound=float(w.sum()),
            seconds=seconds,
            status=f"no solution ({res.message})",
        )
    x = res.x[:m] > 0.5
    chosen = list(np.flatnonzero(x))
    # order the chosen sites by marginal gain (a greedy pass restricted to them)
    order = greedy_mclp(a[:, chosen], w, len(chosen))
    sites = [int(chosen[j]) for j in order.sites]
    gains = list(order.gains)
    rest = [int(j) for j in chosen if int(j) not in sites]  # sites adding nothing
    sites += rest
    gains += [0.0] * len(rest)
    obj = float(sum(gains))
    bound = getattr(res, "mip_dual_bound", None)
    bound = -float(bound) if bound is not None and np.isfinite(bound) else obj
    status = (
        "optimal" if res.status == 0 else ("time_limit" if res.status == 1 else str(res.message))
    )
    return Solution(
        method="exact",
        sites=sites,
        gains=gains,
        objective=obj,
        upper_bound=max(bound, obj),
        seconds=seconds,
        status=status,
        mip_gap=float(res.mip_gap) if getattr(res, "mip_gap", None) is not None else None,
        extra={"mip_node_count": int(getattr(res, "mip_node_count", 0) or 0)},
    )


# ---------------------------------------------------------------------------------------------
# against the database


def _check_params(*, k: int, radius_m: float, method: str, time_limit_s: float) -> None:
    if not isinstance(k, int | np.integer) or k < 1:
        raise InvalidInput(f"k must be an integer >= 1, got {k!r}", field="k")
    if k > MAX_K:
        raise InvalidInput(f"k must be at most {MAX_K}, got {k}", field="k")
    if not (radius_m > 0 and math.isfinite(radius_m)):
        raise InvalidInput(f"radius_m must be > 0 metres, got {radius_m!r}", field="radius_m")
    if radius_m > MAX_RADIUS_M:
        raise InvalidInput(f"radius_m must be at most {MAX_RADIUS_M:g} m", field="radius_m")
    if method not in METHODS:
        raise InvalidInput(f"method must be one of {', '.join(METHODS)}", field="method")
    if not (0 < time_limit_s <= 600):
        raise InvalidInput("time_limit_s must be within (0, 600]", field="time_limit_s")


def _grid_candidates(demand_xy: np.ndarray, spacing_m: float, radius_m: float) -> np.ndarray:
    """Points of a regular metric lattice (origin 0,0, step ``spacing_m``) within ``radius_m`` of
    some demand point: only the lattice nodes that can cover something, however spread the demand.
    """
    reach = int(math.ceil(radius_m / spacing_m))
    per_point = (2 * reach + 1) ** 2
    if per_point * len(demand_xy) > 50 * MAX_CANDIDATES:
        raise InvalidInput(
            f"grid_spacing_m {spacing_m:g} is too fine for radius_m {radius_m:g} over "
            f"{len(demand_xy):,} demand points: use a larger grid_spacing_m",
            field="grid_spacing_m",
        )
    base = np.round(demand_xy / spacing_m).astype(np.int64)
    off = np.arange(-reach, reach + 1)
    ox, oy = np.meshgrid(off, off)
    offs = np.column_stack([ox.ravel(), oy.ravel()])
    nodes = np.unique((base[:, None, :] + offs[None, :, :]).reshape(-1, 2), axis=0)
    pts = nodes.astype(float) * spacing_m
    dist, _ = cKDTree(demand_xy).query(pts, k=1, distance_upper_bound=radius_m * (1 + 1e-9))
    return pts[np.isfinite(dist)]


def site_cameras(
    session: Session,
    *,
    k: int,
    radius_m: float = 50.0,
    candidates: Sequence[tuple[float, float]] | None = None,
    candidate_source: str = "auto",
    grid_spacing_m: float | None = None,
    min_street_count: int = 3,
    bbox: BBox | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    kind: str | None = None,
    purposes: Sequence[str] | None = None,
    exclude_covered: bool = True,
    method: str = "both",
    time_limit_s: float = 30.0,
) -> dict[str, Any]:
    """Choose ``k`` new camera sites covering the most incidents within ``radius_m``.

    Demand: incidents matching ``bbox``/``start``/``end``/``kind``, weight 1 each; with
    ``exclude_covered`` those already inside a view of an existing camera (of ``purposes``) are
    left out. Candidates: the given ``(lon, lat)`` points; else road intersections
    (``road_nodes`` with ``street_count >= min_street_count``) near the demand; where no roads
    are loaded (Daejeon) a regular metric grid (``grid_spacing_m``, default ``radius_m``) over the
    demand, or the incident locations themselves (``candidate_source="incidents"``).
    The answer says which candidate source was used, each site's marginal gain, coverage
    before/after, both objectives and ``optimality_gap = (upper_bound - objective) / upper_bound``
    against the best proven bound (HiGHS's dual bound; with ``method="greedy"`` only the
    submodular bound, which over-states the true gap).
    """
    _check_params(k=k, radius_m=radius_m, method=method, time_limit_s=time_limit_s)
    check_filters(kind=kind, start=start, end=end, purposes=purposes)
    if candidate_source not in CANDIDATE_SOURCES:
        raise InvalidInput(
            f"candidate_source must be one of {', '.join(CANDIDATE_SOURCES)}",
            field="candidate_source",
        )
    if candidates is not None and candidate_source not in ("auto", "given"):
        raise InvalidInput(
            "give candidates or a candidate_source, not both", field="candidate_source"
        )
    if candidate_source == "given" and candidates is None:
        raise InvalidInput("candidate_source 'given' needs candidates", field="candidates")
    if grid_spacing_m is not None and not (grid_spacing_m > 0 and math.isfinite(grid_spacing_m)):
        raise InvalidInput("grid_spacing_m must be > 0 metres", field="grid_spacing_m")

    t0 = time.perf_counter()
    df = incident_coverage(session, bbox=bbox, start=start, end=end, kind=kind, purposes=purposes)
    if df.empty:
        raise InvalidInput("no incidents in the area for these filters", field="bbox")
    lon = df["lon"].to_numpy(float)
    lat = df["lat"].to_numpy(float)
    epsg = metric_crs_for_points(lon, lat)
    fwd = Transformer.from_crs(4326, epsg, always_xy=True)
    inv = Transformer.from_crs(epsg, 4326, always_xy=True)
    dx, dy = fwd.transform(lon, lat)
    # stored incidents the metric CRS cannot hold (near a pole, another continent) are skipped
    # and counted, never projected to infinity (issue 11, finding 13)
    held = held_by_crs(epsg, lon, lat, dx, dy)
    skipped = {"outside_crs": int((~held).sum()), "candidates_outside_crs": 0}
    if not held.all():
        df = df.loc[held].reset_index(drop=True)
        lon, lat, dx, dy = lon[held], lat[held], dx[held], dy[held]
        if df.empty:
            raise InvalidInput(
                f"none of the {skipped['outside_crs']} incidents can be measured in one metric "
                f"CRS (EPSG:{epsg}): give a bbox",
                field="bbox",
            )
    demand_xy = np.column_stack([dx, dy])
    w_all = np.ones(len(df))
    already = df["covered"].to_numpy(bool)
    w = np.where(already, 0.0, w_all) if exclude_covered else w_all

    # candidates
    source = candidate_source
    notes: list[str] = []
    if skipped["outside_crs"]:
        notes.append(
            f"{skipped['outside_crs']} incidents lie where EPSG:{epsg} cannot measure them "
            "(near a pole or far from the area) and were skipped: give a bbox to site there"
        )
    if candidates is not None:
        if len(candidates) == 0:
            raise InvalidInput("candidates is empty", field="candidates")
        if len(candidates) > MAX_CANDIDATES:
            raise InvalidInput(f"at most {MAX_CANDIDATES} candidates", field="candidates")
        for i, (clon, clat) in enumerate(candidates):
            check_lat_lon(
                clat, clon, lat_field=f"candidates[{i}].lat", lon_field=f"candidates[{i}].lon"
            )
        c_lonlat = np.asarray(candidates, dtype=float).reshape(-1, 2)
        source = "given"
    else:
        c_lonlat = np.empty((0, 2))
        if source in ("auto", "road_nodes"):
            x0, y0 = demand_xy.min(axis=0) - radius_m
            x1, y1 = demand_xy.max(axis=0) + radius_m
            (blon0, blon1), (blat0, blat1) = inv.transform([x0, x1], [y0, y1])
            rows = session.execute(
                text("""
                select st_x(geom), st_y(geom) from road_nodes
                where street_count >= :sc and geom && st_makeenvelope(:a, :b, :c, :d, 4326)
                order by id"""),
                {
                    "sc": int(min_street_count),
                    "a": min(blon0, blon1),
                    "b": min(blat0, blat1),
                    "c": max(blon0, blon1),
                    "d": max(blat0, blat1),
                },
            ).all()
            c_lonlat = np.asarray(rows, dtype=float).reshape(-1, 2)
            if len(c_lonlat):
                source = "road_nodes"
            elif source == "road_nodes":
                raise InvalidInput(
                    "no road intersections are loaded near the demand", field="candidate_source"
                )
            else:
                notes.append(
                    "no road intersections are loaded near the demand (no road network here): "
                    "candidates are a regular metric grid over the incidents instead"
                )
                source = "grid"
        if source == "grid":
            spacing = float(grid_spacing_m or radius_m)
            gxy = _grid_candidates(demand_xy, spacing, radius_m)
            glon, glat = inv.transform(gxy[:, 0], gxy[:, 1])
            c_lonlat = np.column_stack([glon, glat])
            notes.append(f"grid candidates every {spacing:g} m ({len(c_lonlat)} cover demand)")
        elif source == "incidents":
            uniq = np.unique(np.round(np.column_stack([lon, lat]), 7), axis=0)
            c_lonlat = uniq
    if len(c_lonlat) > MAX_CANDIDATES:
        raise InvalidInput(
            f"{len(c_lonlat):,} candidates exceed the limit of {MAX_CANDIDATES:,}: use a smaller "
            "bbox or a larger grid_spacing_m",
            field="candidates" if source == "given" else "grid_spacing_m",
        )
    if k > len(c_lonlat):
        raise InvalidInput(f"k = {k} exceeds the number of candidates ({len(c_lonlat)})", field="k")
    cx, cy = fwd.transform(c_lonlat[:, 0], c_lonlat[:, 1])
    c_held = held_by_crs(epsg, c_lonlat[:, 0], c_lonlat[:, 1], cx, cy)
    if not c_held.all():
        skipped["candidates_outside_crs"] = int((~c_held).sum())
        c_lonlat, cx, cy = c_lonlat[c_held], cx[c_held], cy[c_held]
        if k > len(c_lonlat):
            raise InvalidInput(
                f"k = {k} exceeds the candidates the metric CRS EPSG:{epsg} can hold "
                f"({len(c_lonlat)}; {skipped['candidates_outside_crs']} are outside it)",
                field="candidates",
            )
    cand_xy = np.column_stack([cx, cy])

    a = coverage_matrix(demand_xy, cand_xy, radius_m)
    ar, wr, row_of = reduce_problem(a, w)
    build_s = time.perf_counter() - t0

    sols: dict[str, Solution] = {}
    if method in ("greedy", "both"):
        sols["greedy"] = greedy_mclp(ar, wr, k)
    if method in ("exact", "both"):
        sols["exact"] = exact_mclp(ar, wr, k, time_limit_s=time_limit_s)
    best_bound = min(s.upper_bound for s in sols.values())
    primary = sols.get("exact") or sols["greedy"]
    if "exact" in sols and "greedy" in sols and sols["greedy"].objective > primary.objective:
        primary = sols["greedy"]  # the MILP hit its time limit with a worse incumbent

    total_w = float(w_all.sum())
    before = float(w_all[already].sum())
    gained = primary.objective if exclude_covered else _gain_outside(a, already, primary.sites)
    sites_out = []
    for rank, (j, g) in enumerate(zip(primary.sites, primary.gains, strict=True), start=1):
        sites_out.append(
            {
                "rank": rank,
                "lon": float(c_lonlat[j, 0]),
                "lat": float(c_lonlat[j, 1]),
                "marginal_gain": g,
                "covers_total": int(a[:, j].sum()),
                "candidate_index": int(j),
            }
        )

    def _sol(s: Solution) -> dict[str, Any]:
        return {
            "objective": s.objective,
            "upper_bound": round(s.upper_bound, 6),
            "optimality_gap": round(max(0.0, (best_bound - s.objective) / best_bound), 6)
            if best_bound > 0
            else 0.0,
            "own_gap": round(s.gap, 6),
            "status": s.status,
            "mip_gap": s.mip_gap,
            "seconds": round(s.seconds, 4),
            "sites": [int(j) for j in s.sites],
            **s.extra,
        }

    return {
        "method": method,
        "chosen_by": primary.method,
        "k": k,
        "radius_m": radius_m,
        "metric_crs": f"EPSG:{epsg}",
        "candidate_source": source,
        "candidates": len(c_lonlat),
        "demand": {
            "incidents": len(df),
            "weight_total": total_w,
            "already_covered": before,
            "excluded_as_covered": bool(exclude_covered),
            "coverable_by_candidates": float(w[np.asarray(a.sum(axis=1)).ravel() > 0].sum()),
            "distinct_demand_rows": int(ar.shape[0]),
            "skipped_outside_crs": skipped["outside_crs"],
        },
        "coverage_before": {"weight": before, "share": round(before / total_w, 6)},
        "coverage_after": {
            "weight": before + gained,
            "share": round((before + gained) / total_w, 6),
        },
        "objective": primary.objective,
        "upper_bound": round(best_bound, 6),
        "optimality_gap": round(max(0.0, (best_bound - primary.objective) / best_bound), 6)
        if best_bound > 0
        else 0.0,
        "solutions": {name: _sol(s) for name, s in sols.items()},
        "sites": sites_out,
        "build_seconds": round(build_s, 4),
        "skipped": skipped,
        "notes": notes,
    }


def _gain_outside(a: sp.csr_matrix, already: np.ndarray, sites: list[int]) -> float:
    """Demand newly covered by ``sites`` that no existing camera covered."""
    if not sites:
        return 0.0
    hit = np.asarray(a[:, sites].sum(axis=1)).ravel() > 0
    return float((hit & ~already).sum())
