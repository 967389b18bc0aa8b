"""The route answer's fast paths (issue 15) say exactly what the plain code said.

The attacks: a review window cut short by a rounding shortcut (the investigator asks for a clip
that ends a second before the person leaves the view); a camera along the route dropped or
given the wrong metres by the compiled pass; a route's pieces mapped to the wrong edge or
direction by the vectorised arc look-up.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import TypeAdapter
from sqlalchemy.orm import Session

import geo.routing as R
from geo.errors import InvalidInput, Unreachable
from geo.routing.windows import _window, windows

ZONES = [
    dt.UTC,
    dt.timezone(dt.timedelta(hours=9)),
    dt.timezone(dt.timedelta(hours=-5, minutes=-30)),
    ZoneInfo("Europe/Helsinki"),  # not a fixed offset: the per-camera path
    TypeAdapter(dt.datetime).validate_python("2026-05-01T12:00:00+09:00").tzinfo,  # the API's
]


def test_review_windows_equal_datetime_arithmetic() -> None:
    """Every text (ISO times, review seconds, the clip link's whole seconds rounded outwards)
    equals the per-camera datetime computation, ties and whole seconds included."""
    rnd = random.Random(7)
    for _ in range(1500):
        tz = rnd.choice(ZONES)
        start = dt.datetime(
            2026, rnd.randint(1, 12), rnd.randint(1, 28), rnd.randint(0, 23),
            rnd.randint(0, 59), rnd.randint(0, 59), rnd.choice([0, rnd.randint(0, 999_999)]),
            tzinfo=tz,
        )  # fmt: skip
        k = rnd.randint(1, 6)
        a = [
            rnd.choice([0.0, 1.0, rnd.random() * 3000, rnd.randint(0, 10**9) * 0.5e-6])
            for _ in range(k)
        ]
        b = [max(0.0, x + rnd.choice([rnd.random() * 500, -rnd.random() * 5, 0.0])) for x in a]
        cams = [rnd.randint(1, 10**6) for _ in range(k)]
        want = [
            _window(c, start + dt.timedelta(seconds=x), start + dt.timedelta(seconds=y))
            for c, x, y in zip(cams, a, b, strict=True)
        ]
        assert windows(cams, a, b, start=start) == want


def _brute_along(g: R.RoadGraph, r: R.Route) -> dict[int, tuple[float, float]]:
    """Cameras along ``r`` the slow, obvious way: every piece against every camera row."""
    out: dict[int, tuple[float, float]] = {}
    cum = 0.0
    for p, pm in zip(r.pieces, r.piece_m.tolist(), strict=True):
        lo, hi = sorted((p.f0, p.f1))
        for row in range(int(g.ce_ptr[p.edge]), int(g.ce_ptr[p.edge + 1])):
            a, b = max(lo, g.ce_f0[row]), min(hi, g.ce_f1[row])
            if b < a:
                continue
            span = hi - lo
            if span <= 0:
                d0 = d1 = 0.0
            elif p.f1 >= p.f0:
                d0, d1 = (a - p.f0) / span, (b - p.f0) / span
            else:
                d0, d1 = (p.f0 - b) / span, (p.f0 - a) / span
            cam = int(g.ce_cam[row])
            s0, e0 = cum + d0 * pm, cum + d1 * pm
            if cam in out:
                s0, e0 = min(s0, out[cam][0]), max(e0, out[cam][1])
            out[cam] = (s0, e0)
        cum += pm
    return out


@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_cameras_along_and_pieces_equal_the_plain_code(session: Session, mode: str) -> None:
    """On real routes (Helsinki, Daejeon): every piece is the arc the path takes, in its
    direction, and the compiled cameras-along equals the brute-force answer."""
    g = R.get_graph(session)
    mg = g.modes[mode]
    rnd = random.Random(11)
    idx = mg.tree_idx
    checked = with_cams = 0
    for _ in range(60):
        e1, e2 = (int(idx[rnd.randrange(len(idx))]) for _ in range(2))
        a = R.snap(g, lon=float(g.node_xy[g.src[e1], 0]), lat=float(g.node_xy[g.src[e1], 1]),
                   mode=mode, field="from")  # fmt: skip
        b = R.snap(g, lon=float(g.node_xy[g.dst[e2], 0]), lat=float(g.node_xy[g.dst[e2], 1]),
                   mode=mode, field="to")  # fmt: skip
        try:
            r = R.route(g, start=a, end=b, mode=mode)
        except Exception:  # two separate areas: no route, nothing to compare
            continue
        checked += 1
        inner = r.pieces[1:-1]
        for p, q in zip(inner[:-1], inner[1:], strict=True):  # consecutive pieces meet
            end_p = g.dst[p.edge] if p.f1 == 1.0 else g.src[p.edge]
            start_q = g.src[q.edge] if q.f0 == 0.0 else g.dst[q.edge]
            assert end_p == start_q
        for p in inner:
            ok = mg.fwd_ok[p.edge] if p.f1 > p.f0 else mg.bwd_ok[p.edge]
            assert ok and {p.f0, p.f1} == {0.0, 1.0}
        assert r.length_m == pytest.approx(float(np.sum(r.piece_m)))
        want = _brute_along(g, r)
        got = {c.camera_id: (c.distance_along_m, c.distance_until_m) for c in R.cameras_along(g, r)}
        assert got.keys() == want.keys()
        for cam, (s0, e0) in want.items():
            assert got[cam][0] == pytest.approx(s0, abs=1e-6)
            assert got[cam][1] == pytest.approx(e0, abs=1e-6)
        order = [c.distance_along_m for c in R.cameras_along(g, r)]
        assert order == sorted(order)
        with_cams += bool(want)
    assert checked >= 20 and with_cams >= 5


def test_route_answer_geometry_follows_the_pieces(session: Session) -> None:
    """The answer's line runs from the origin through every whole edge's own coordinates, in
    the direction travelled, to the destination (gathered from the flat array, not re-cut)."""
    g = R.get_graph(session)
    idx = g.modes["walk"].tree_idx
    rnd = random.Random(5)
    done = 0
    for _ in range(40):
        e1, e2 = (int(idx[rnd.randrange(len(idx))]) for _ in range(2))
        pa = g.geoms[e1].interpolate(0.3, normalized=True)
        pb = g.geoms[e2].interpolate(0.6, normalized=True)
        kw: dict[str, Any] = {"mode": "walk", "depart_at": dt.datetime(2026, 5, 1, tzinfo=dt.UTC)}
        try:
            res = R.find_route(
                session,
                origin=R.Place(lon=pa.x, lat=pa.y),
                destination=R.Place(lon=pb.x, lat=pb.y),
                **kw,
            )
        except Exception:  # two separate areas
            continue
        a = R.snap(g, lon=pa.x, lat=pa.y, mode="walk", field="from")
        b = R.snap(g, lon=pb.x, lat=pb.y, mode="walk", field="to")
        r = R.route(g, start=a, end=b, mode="walk")
        coords = np.array(res["geometry"]["coordinates"])
        assert res["geometry"]["type"] == "LineString"
        assert coords[0] == pytest.approx([pa.x, pa.y]) and coords[-1] == pytest.approx(
            [pb.x, pb.y]
        )
        line = coords.tolist()
        for p in r.pieces[1:-1]:  # each whole edge's coordinates appear in travel order
            own = g.coords[p.edge] if p.f1 > p.f0 else g.coords[p.edge][::-1]
            own_l = own.tolist()
            k = line.index(own_l[0])
            assert line[k : k + len(own_l)] == own_l
        done += 1
    assert done >= 10


def _random_points(g: R.RoadGraph, n: int, seed: int) -> list[tuple[float, float]]:
    """Half at nodes (ties between the edges meeting there), half up to about 600 m from one
    (some beyond the 500 m snapping limit: refused)."""
    rnd = random.Random(seed)
    out = [tuple(map(float, g.node_xy[rnd.randrange(len(g.node_xy))])) for _ in range(n)]
    for i in range(n // 2, n):
        out[i] = (out[i][0] + rnd.uniform(-0.006, 0.006), out[i][1] + rnd.uniform(-0.005, 0.005))
    return out  # type: ignore[return-value]


def test_snap_grid_equals_the_shapely_search(session: Session) -> None:
    """The compiled snapping (a grid of segments) finds the same nearest road at the same
    distance as the shapely search, and the same edge and position unless two edges are exactly
    as near (a node, a road drawn twice): a responder's scene never moves to another street."""
    g = R.get_graph(session)
    same = ties = refused = 0
    for mode in ("walk", "drive"):
        mg = g.modes[mode]
        grid = mg.snap_grid
        assert grid is not None
        for lon, lat in _random_points(g, 400, seed=3):
            got = []
            for use in (grid, None):
                mg.snap_grid = use
                try:
                    s = R.snap(g, lon=lon, lat=lat, mode=mode, field="from")
                    got.append((s.edge, s.frac, s.offset_m))
                except InvalidInput as e:
                    got.append(str(e))
            mg.snap_grid = grid
            a, b = got
            if isinstance(a, str) or isinstance(b, str):
                assert a == b
                refused += 1
            elif a == b:
                same += 1
            else:
                assert a[2] == b[2]  # equally near: a tie, broken by the lower edge index
                assert a[0] < b[0] or (a[0] == b[0] and abs(a[1] - b[1]) < 1e-12)
                ties += 1
    assert same >= 300 and ties >= 50 and 0 < refused < 200


@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_compiled_route_equals_the_plain_builder(
    session: Session, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one compiled call (snap ends, hierarchy search, pieces, cut end pieces, whole edges'
    coordinates, cameras along) answers exactly as the Python builder it replaced: every field
    of the answer, every coordinate bit for bit, on routes between nodes and arbitrary points."""
    from geo.routing import compiled

    g = R.get_graph(session)
    assert all(mg.prepared is not None for mg in g.modes.values())  # small: prepared at build
    usable = compiled.usable
    calls = []

    def counted(*a: Any) -> Any:
        calls.append(1)
        return usable(*a)

    pts = _random_points(g, 120, seed=9)
    kw: dict[str, Any] = {"mode": mode, "depart_at": dt.datetime(2026, 5, 1, tzinfo=dt.UTC)}
    compared = 0
    for (ax, ay), (bx, by) in zip(pts[::2], pts[1::2], strict=True):
        answers = []
        for fn in (counted, lambda *a: False):
            monkeypatch.setattr(compiled, "usable", fn)
            try:
                answers.append(
                    R.find_route(
                        session,
                        graph=g,
                        origin=R.Place(lon=ax, lat=ay),
                        destination=R.Place(lon=bx, lat=by),
                        **kw,
                    )  # fmt: skip
                )
            except (InvalidInput, Unreachable) as e:
                answers.append(f"{type(e).__name__}: {e}")
        assert answers[0] == answers[1]
        compared += isinstance(answers[0], dict)
    assert compared >= 20 and len(calls) >= compared
