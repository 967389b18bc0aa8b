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
