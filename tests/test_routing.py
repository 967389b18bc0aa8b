"""Routing engine on the Helsinki extract: agreement with networkx and pgRouting, one-way streets,
review windows against hand-computed cases, cameras on roads, and the investigator's API."""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

import networkx as nx
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo import routing as R
from geo.errors import InvalidInput, NotFound, Unreachable

T0 = dt.datetime(2026, 5, 1, 14, 2, tzinfo=dt.UTC)


@pytest.fixture(scope="module", autouse=True)
def _camera_edges_committed(engine: Any, sample_loaded: Any) -> None:
    """Cameras on roads computed (and committed) for the sample data, as a load would do."""
    from geo.camera_edges import camera_edges_version, refresh_camera_edges

    with Session(engine) as s, s.begin():
        if camera_edges_version(s) != R.graph_version(s):
            refresh_camera_edges(s)


def _edges(session: Session) -> list[Any]:
    return session.execute(
        text("""select id, source, target, length_m, travel_time_s, oneway, drivable, highway
                from road_edges""")
    ).all()


def _node_xy(session: Session) -> dict[int, tuple[float, float]]:
    return {
        int(i): (x, y)
        for i, x, y in session.execute(text("select id, st_x(geom), st_y(geom) from road_nodes"))
    }


def _nx_walk(session: Session) -> nx.Graph:
    G = nx.Graph()
    for e in _edges(session):
        if e.highway in R.WALK_EXCLUDED or e.source == e.target:
            continue
        if not G.has_edge(e.source, e.target) or G[e.source][e.target]["w"] > e.length_m:
            G.add_edge(e.source, e.target, w=e.length_m)
    return G


def _nx_drive(session: Session) -> nx.DiGraph:
    G = nx.DiGraph()

    def add(a: int, b: int, w: float, m: float) -> None:
        if not G.has_edge(a, b) or G[a][b]["w"] > w:
            G.add_edge(a, b, w=w, m=m)

    for e in _edges(session):
        if not e.drivable or e.source == e.target:
            continue
        add(e.source, e.target, e.travel_time_s, e.length_m)
        if not e.oneway:
            add(e.target, e.source, e.travel_time_s, e.length_m)
    return G


def _node_route(
    session: Session, a: int, b: int, mode: str, xy: dict[int, tuple[float, float]]
) -> R.Route:
    g = R.get_graph(session)
    sa = R.snap(g, lon=xy[a][0], lat=xy[a][1], mode=mode, field="from")
    sb = R.snap(g, lon=xy[b][0], lat=xy[b][1], mode=mode, field="to")
    return R.route(g, start=sa, end=sb, mode=mode)


def _pairs(G: Any, n: int, seed: int) -> list[tuple[int, int]]:
    comp = max(
        nx.strongly_connected_components(G) if G.is_directed() else nx.connected_components(G),
        key=len,
    )
    nodes = sorted(comp)
    rnd = random.Random(seed)
    return [tuple(rnd.sample(nodes, 2)) for _ in range(n)]  # type: ignore[misc]


@pytest.fixture(params=["single-search", "bidirectional", "precomputed"])
def search_kind(request: Any, monkeypatch: pytest.MonkeyPatch, session: Session) -> str:
    """Run a test with every shortest-path strategy (small graphs use one full search, large
    ones the bidirectional search until their precomputed hierarchy is ready, then that)."""
    if request.param != "single-search":
        monkeypatch.setattr(R.search, "SMALL_GRAPH_NODES", 0)
    if request.param == "precomputed":
        R.search.prepare(R.get_graph(session))
    else:
        monkeypatch.setattr(R.search, "USE_PREPARED", False)
    return str(request.param)


def test_walk_lengths_match_networkx(session: Session, search_kind: str) -> None:
    G = _nx_walk(session)
    xy = _node_xy(session)
    for a, b in _pairs(G, 30, seed=5):
        ref = nx.shortest_path_length(G, a, b, weight="w")
        r = _node_route(session, a, b, "walk", xy)
        assert r.length_m == pytest.approx(ref, rel=1e-3, abs=0.5), (a, b)


def test_drive_times_match_networkx_and_respect_one_way(session: Session, search_kind: str) -> None:
    G = _nx_drive(session)
    xy = _node_xy(session)
    g = R.get_graph(session)
    oneway = {int(e) for e, o in zip(g.edge_ids, g.oneway, strict=True) if o}
    for a, b in _pairs(G, 30, seed=7):
        ref = nx.shortest_path_length(G, a, b, weight="w")
        r = _node_route(session, a, b, "drive", xy)
        assert r.travel_time_s == pytest.approx(ref, rel=1e-3, abs=0.1), (a, b)
        for p in r.pieces:  # no one-way edge is driven against its direction
            if int(g.edge_ids[p.edge]) in oneway:
                assert p.f1 >= p.f0


def test_one_way_street_forces_a_detour(session: Session) -> None:
    e = session.execute(
        text("""select id, source, target, length_m from road_edges
                where oneway and drivable and source <> target and length_m > 30
                order by id limit 1""")
    ).one()
    xy = _node_xy(session)
    fwd = _node_route(session, e.source, e.target, "drive", xy)
    back = _node_route(session, e.target, e.source, "drive", xy)
    assert fwd.length_m == pytest.approx(e.length_m, rel=1e-3)
    assert back.length_m > e.length_m
    walk_back = _node_route(session, e.target, e.source, "walk", xy)  # on foot: straight back
    assert walk_back.length_m == pytest.approx(e.length_m, rel=1e-3)


def test_pgrouting_agrees(session: Session) -> None:
    xy = _node_xy(session)
    Gw, Gd = _nx_walk(session), _nx_drive(session)
    walk_sql = (
        "select id, source, target, length_m as cost from road_edges "
        "where highway is distinct from 'motorway' and highway is distinct from 'motorway_link'"
    )
    drive_sql = (
        "select id, source, target, travel_time_s as cost, "
        "case when oneway then -1 else travel_time_s end as reverse_cost "
        "from road_edges where drivable"
    )
    for a, b in _pairs(Gw, 10, seed=11):
        pg = session.execute(
            text("select max(agg_cost) from pgr_dijkstra(:sql, :a, :b, directed => false)"),
            {"sql": walk_sql, "a": a, "b": b},
        ).scalar_one()
        assert _node_route(session, a, b, "walk", xy).length_m == pytest.approx(
            pg, rel=1e-3, abs=0.5
        )
    for a, b in _pairs(Gd, 10, seed=13):
        pg = session.execute(
            text("select max(agg_cost) from pgr_dijkstra(:sql, :a, :b, directed => true)"),
            {"sql": drive_sql, "a": a, "b": b},
        ).scalar_one()
        r = _node_route(session, a, b, "drive", xy)
        assert r.travel_time_s == pytest.approx(pg, rel=1e-3, abs=0.1)


def _camera_edge_case(session: Session) -> Any:
    """A straight-ish walkable edge with a camera seeing its middle part only."""
    return session.execute(
        text("""select ce.camera_id, ce.edge_id, ce.frac_from, ce.frac_to, e.length_m,
                        st_x(st_transform(st_lineinterpolatepoint(st_transform(e.geom, 32635), 0.05), 4326)) x0,
                        st_y(st_transform(st_lineinterpolatepoint(st_transform(e.geom, 32635), 0.05), 4326)) y0,
                        st_x(st_transform(st_lineinterpolatepoint(st_transform(e.geom, 32635), 0.95), 4326)) x1,
                        st_y(st_transform(st_lineinterpolatepoint(st_transform(e.geom, 32635), 0.95), 4326)) y1
                 from camera_edges ce join road_edges e on e.id = ce.edge_id
                 join cameras c on c.id = ce.camera_id
                 where ce.frac_from > 0.1 and ce.frac_to < 0.9 and e.length_m > 30
                   and st_y(c.geom) > 59
                 order by e.length_m desc, ce.camera_id limit 1""")
    ).one()


def test_route_review_window_hand_computed(session: Session) -> None:
    c = _camera_edge_case(session)
    res = R.find_route(
        session,
        origin=R.Place(lon=c.x0, lat=c.y0),
        destination=R.Place(lon=c.x1, lat=c.y1),
        mode="walk",
        depart_at=T0,
    )
    L = c.length_m
    assert res["length_m"] == pytest.approx(0.9 * L, rel=1e-3)
    assert res["travel_time_s"] == pytest.approx(0.9 * L / (5 / 3.6), rel=1e-3)
    cam = next(x for x in res["cameras_along"] if x["camera_id"] == c.camera_id)
    # enters the view at (f0 - 0.05) L, leaves at (f1 - 0.05) L (fractions along the edge)
    assert cam["distance_along_m"] == pytest.approx((c.frac_from - 0.05) * L, abs=0.2)
    assert cam["distance_until_m"] == pytest.approx((c.frac_to - 0.05) * L, abs=0.2)
    # earliest at 7 km/h to the first seen metre, latest at 3 km/h to the last one
    t0 = T0 + dt.timedelta(seconds=(c.frac_from - 0.05) * L / (7 / 3.6))
    t1 = T0 + dt.timedelta(seconds=(c.frac_to - 0.05) * L / (3 / 3.6))
    assert abs(dt.datetime.fromisoformat(cam["expected_from"]) - t0) < dt.timedelta(seconds=0.2)
    assert abs(dt.datetime.fromisoformat(cam["expected_to"]) - t1) < dt.timedelta(seconds=0.2)
    assert cam["playback"].startswith(f"/api/cameras/{c.camera_id}/clip.mp4?start=")
    # custom speed range 4-6 km/h
    res = R.find_route(
        session,
        origin=R.Place(lon=c.x0, lat=c.y0),
        destination=R.Place(lon=c.x1, lat=c.y1),
        mode="walk",
        depart_at=T0,
        min_kph=4,
        max_kph=6,
    )
    cam = next(x for x in res["cameras_along"] if x["camera_id"] == c.camera_id)
    t0 = T0 + dt.timedelta(seconds=(c.frac_from - 0.05) * L / (6 / 3.6))
    assert abs(dt.datetime.fromisoformat(cam["expected_from"]) - t0) < dt.timedelta(seconds=0.2)


def test_track_window_hand_computed() -> None:
    """Window formula on a synthetic route: [t_a + d/v, t_b - (L - d')/v]."""
    snap = R.Snap(0, 0, 0, 0.0, 0.0, "x")
    r = R.Route(
        "walk",
        [R.Piece(0, 0, 1)],
        700.0,
        504.0,
        R.LineString([(0, 0), (1, 1)]),
        snap,
        snap,
        np.array([700.0]),
        np.array([5.0]),
    )
    v = np.array([7.0])
    assert R.time_at(r, v, 350.0) == pytest.approx(350 / (7 / 3.6))
    assert R.time_at(r, v, 700.0) == pytest.approx(360.0)


def _cameras_apart(session: Session, lo: float, hi: float) -> tuple[int, int]:
    row = session.execute(
        text("""select a.id, b.id from cameras a join cameras b on a.id < b.id
                where st_y(a.geom) > 59 and st_y(b.geom) > 59
                  and st_distance(a.geom::geography, b.geom::geography) between :lo and :hi
                order by a.id, b.id limit 1"""),
        {"lo": lo, "hi": hi},
    ).one()
    return int(row[0]), int(row[1])


def test_done_when_track_scenario(session: Session) -> None:
    """Two Helsinki cameras about 1 km apart, sightings 5 minutes apart: feasible on foot (a
    brisk run) and by car, with the cameras in between; a pair needing 200 km/h on foot is not."""
    a, b = _cameras_apart(session, 750, 850)
    sightings = [(a, T0), (b, T0 + dt.timedelta(minutes=5))]
    res = R.track(session, sightings=sightings, mode="walk")
    hop = res["hops"][0]
    assert res["feasible"] and hop["feasible"] and hop["reason"] is None
    assert 700 < hop["length_m"] < 1500
    assert hop["required_speed_kph"] == pytest.approx(hop["length_m"] / 300 * 3.6, rel=1e-3)
    cams = hop["cameras_between"]
    assert cams and all(c["camera_id"] not in (a, b) for c in cams)
    assert [c["distance_along_m"] for c in cams] == sorted(c["distance_along_m"] for c in cams)
    for c in cams:  # every window lies within the two sightings
        t0 = dt.datetime.fromisoformat(c["expected_from"])
        t1 = dt.datetime.fromisoformat(c["expected_to"])
        assert T0 <= t0 <= t1 <= T0 + dt.timedelta(minutes=5, seconds=1)
    assert res["geometry"]["type"] == "LineString"
    # 200 km/h on foot
    L = hop["length_m"]
    fast = [(a, T0), (b, T0 + dt.timedelta(seconds=L / (200 / 3.6)))]
    res = R.track(session, sightings=fast, mode="walk")
    assert not res["feasible"] and not res["hops"][0]["feasible"]
    assert "km/h" in res["hops"][0]["reason"]
    assert res["hops"][0]["required_speed_kph"] == pytest.approx(200, rel=0.01)


def test_track_window_is_exact_when_speed_is_forced(session: Session) -> None:
    a, b = _cameras_apart(session, 750, 850)
    probe = R.track(session, sightings=[(a, T0), (b, T0 + dt.timedelta(minutes=5))], mode="walk")
    L = probe["hops"][0]["length_m"]
    # sightings exactly L at 10 km/h apart: faster than plausible walking, so the required
    # speed is the fastest and every window collapses to the instant the person passes by
    dt_s = L / (10 / 3.6)
    res = R.track(session, sightings=[(a, T0), (b, T0 + dt.timedelta(seconds=dt_s))], mode="walk")
    hop = res["hops"][0]
    assert hop["feasible"] and hop["requires_running"]
    for c in hop["cameras_between"]:
        t_pass = T0 + dt.timedelta(seconds=c["distance_along_m"] / (10 / 3.6))
        assert abs(dt.datetime.fromisoformat(c["expected_from"]) - t_pass) < dt.timedelta(
            seconds=0.5
        )


def test_reachable(session: Session) -> None:
    res = R.reachable(
        session, origin=R.Place(lon=24.9414, lat=60.1699), at=T0, mode="walk", max_minutes=5
    )
    cams = res["cameras"]
    assert cams and [c["earliest_arrival_s"] for c in cams] == sorted(
        c["earliest_arrival_s"] for c in cams
    )
    assert all(0 <= c["earliest_arrival_s"] <= 300 for c in cams)
    assert all(c["expected_to"] == (T0 + dt.timedelta(minutes=5)).isoformat() for c in cams)
    assert [p["minutes"] for p in res["isochrones"]] == [1, 3, 5]
    from shapely.geometry import shape

    areas = [shape(p["geometry"]).area for p in res["isochrones"]]
    assert areas == sorted(areas) and areas[0] > 0
    # more time reaches more cameras; drive reaches at least as far in 5 minutes
    res10 = R.reachable(session, origin=R.Place(lon=24.9414, lat=60.1699), at=T0, max_minutes=10)
    assert len(res10["cameras"]) >= len(cams)
    # consistent with routes: a camera's earliest arrival <= the route time at 7 km/h to it
    c = cams[len(cams) // 2]
    r = R.find_route(
        session,
        origin=R.Place(lon=24.9414, lat=60.1699),
        destination=R.Place(camera_id=c["camera_id"]),
        depart_at=T0,
    )
    assert c["earliest_arrival_s"] <= r["travel_time_fastest_s"] + 1


def test_errors(session: Session) -> None:
    with pytest.raises(NotFound) as e:
        R.find_route(
            session, origin=R.Place(camera_id=999999), destination=R.Place(lon=24.94, lat=60.17)
        )
    assert e.value.field == "from.camera_id"
    with pytest.raises(InvalidInput) as e2:  # Jeju has no roads loaded
        R.find_route(
            session,
            origin=R.Place(lon=24.94, lat=60.17),
            destination=R.Place(lon=126.53, lat=33.50),
        )
    assert e2.value.field == "to"
    with pytest.raises(InvalidInput) as e3:
        R.find_route(
            session,
            origin=R.Place(lon=24.94, lat=60.17),
            destination=R.Place(lon=24.941, lat=60.171),
            mode="fly",
        )
    assert e3.value.field == "mode"
    with pytest.raises(InvalidInput) as e4:
        R.track(session, sightings=[(1, T0)], mode="walk")
    assert e4.value.field == "sightings"
    with pytest.raises(InvalidInput) as e5:
        R.find_route(
            session,
            origin=R.Place(lon=24.94, lat=60.17),
            destination=R.Place(lon=24.941, lat=60.171),
            depart_at=dt.datetime(2026, 5, 1),
        )
    assert e5.value.field == "depart_at"


def test_unreachable_piece(session: Session) -> None:
    """Points snap onto the main network; an edge of a cut-off piece cannot reach it."""
    G = _nx_walk(session)
    xy = _node_xy(session)
    # Helsinki's pieces (Daejeon's arterial network is another, separate area)
    comps = sorted(
        (c for c in nx.connected_components(G) if 24 < xy[next(iter(c))][0] < 26), key=len
    )
    assert len(comps) > 1  # the extract is clipped: small pieces exist (retain_all=True)
    small, big = sorted(comps[0])[0], sorted(comps[-1])[0]
    # near a fragment, the point still snaps onto the main network and is routed
    assert _node_route(session, small, big, "walk", xy).length_m > 0
    g = R.get_graph(session)
    e = next(i for i in range(len(g.edge_ids)) if int(g.node_ids[g.src[i]]) in comps[0])
    start = R.Snap(xy[small][0], xy[small][1], e, 0.5, 0.0, "from")
    end = R.snap(g, lon=xy[big][0], lat=xy[big][1], mode="walk", field="to")
    with pytest.raises(Unreachable):
        R.route(g, start=start, end=end, mode="walk")


def test_camera_edges_refreshed(session: Session) -> None:
    row = session.execute(
        text("""select count(*), count(distinct camera_id), min(frac_from), max(frac_to),
                       bool_and(frac_from <= frac_nearest + 1 or true)
                from camera_edges""")
    ).one()
    assert row[0] > 100 and row[1] > 100 and row[2] >= 0 and row[3] <= 1
    # every stored stretch lies inside that camera's stored view (small tolerance); fractions
    # are measured in the edge's UTM zone (35N in Helsinki, 52N in Daejeon), as camera_edges does
    utm = "32600 + floor((st_x(st_centroid(e.geom)) + 180) / 6)::int + 1"
    bad = session.execute(
        text(f"""select count(*) from camera_edges ce join road_edges e on e.id = ce.edge_id
                join camera_views v on v.camera_id = ce.camera_id
                where not st_dwithin(st_transform(st_lineinterpolatepoint(st_transform(e.geom, {utm}), ce.frac_from), 4326)::geography,
                                     v.geom::geography, 1.0)
                   or not st_dwithin(st_transform(st_lineinterpolatepoint(st_transform(e.geom, {utm}), ce.frac_to), 4326)::geography,
                                     v.geom::geography, 1.0)""")
    ).scalar_one()
    assert bad == 0
    from geo.camera_edges import camera_edges_version, refresh_camera_edges

    assert camera_edges_version(session) == R.graph_version(session)
    n = refresh_camera_edges(session)
    assert n == row[0]


def test_graph_rebuilds_after_a_load(session: Session) -> None:
    from pathlib import Path

    from geo.load.osm import load_roads

    g1 = R.get_graph(session)
    assert R.get_graph(session) is g1  # cached
    load_roads(
        session,
        path=Path(__file__).resolve().parent.parent
        / "data"
        / "helsinki-osm"
        / "helsinki_center_highways.osm",
        progress=False,
    )
    # a load never makes a request wait: the graph in service answers at once and a background
    # rebuild reads the committed state (this load is still in the test's transaction:
    # nothing to rebuild yet); tests/test_one_engine.py blocks a real rebuild and watches
    assert R.graph_version(session) > g1.version
    assert R.get_graph(session) is g1
    R.wait_for_rebuild(R.graph_key(session))
    assert R.get_graph(session) is g1


# --------------------------------------------------------------------------- API


#: Every tracing call names its case and reason (audited; geo.access.gate.authorize_trace).
CASE = {"case_number": "2026-101", "reason": "assault suspect: review cameras on the way"}


@pytest.fixture
def api(make_user: Any, auth_client: Any) -> Any:
    return auth_client(make_user("investigator-routing", role="police"))


def test_api_route(api: Any, session: Session) -> None:
    a, b = _cameras_apart(session, 750, 850)
    r = api.post(
        "/api/routes",
        json={
            **CASE,
            "from": {"camera_id": a},
            "to": {"camera_id": b},
            "mode": "walk",
            "depart_at": "2026-05-01T14:02:00+03:00",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["length_m"] > 700
    assert body["features"][0]["geometry"]["type"] == "LineString"
    assert body["cameras_along"] and "expected_from" in body["cameras_along"][0]
    r = api.post(
        "/api/routes",
        json={
            **CASE,
            "from": {"lat": 60.1699, "lon": 24.9414},
            "to": {"camera_id": b},
            "mode": "drive",
            "speed_range": {"min_kph": 10, "max_kph": 60},
        },
    )
    assert r.status_code == 200, r.text


def test_api_errors(api: Any) -> None:
    r = api.post(
        "/api/routes",
        json={**CASE, "from": {"camera_id": 999999}, "to": {"lat": 60.17, "lon": 24.94}},
    )
    assert (
        r.status_code == 404
        and "999999" in r.text
        and r.json()["detail"]["field"] == "from.camera_id"
    )
    r = api.post(
        "/api/routes",
        json={**CASE, "from": {"lat": 60.17, "lon": 24.94}, "to": {"lat": 33.50, "lon": 126.53}},
    )
    assert r.status_code == 422 and r.json()["detail"]["field"] == "to"
    r = api.post(
        "/api/routes",
        json={**CASE, "from": {"lat": 95, "lon": 24.94}, "to": {"lat": 60.17, "lon": 24.94}},
    )
    assert r.status_code == 422 and "from" in r.text
    r = api.post(
        "/api/routes",
        json={
            **CASE,
            "from": {"lat": 60.17, "lon": 24.94},
            "to": {"lat": 60.171, "lon": 24.941},
            "mode": "fly",
        },
    )
    assert r.status_code == 422 and "mode" in r.text
    r = api.post(
        "/api/tracks",
        json={**CASE, "sightings": [{"camera_id": 1, "seen_at": "2026-05-01T14:02:00Z"}]},
    )
    assert r.status_code == 422 and "sightings" in r.text
    r = api.post("/api/reachable", json={**CASE, "lat": 60.17, "lon": 24.94, "max_minutes": 0})
    assert r.status_code == 422 and "max_minutes" in r.text


def test_api_track_and_reachable(api: Any, session: Session) -> None:
    a, b = _cameras_apart(session, 750, 850)
    r = api.post(
        "/api/tracks",
        json={
            **CASE,
            "mode": "walk",
            "sightings": [
                {"camera_id": a, "seen_at": "2026-05-01T14:02:00+03:00"},
                {"camera_id": b, "seen_at": "2026-05-01T14:07:00+03:00"},
            ],
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["feasible"] and body["hops"][0]["cameras_between"]
    kinds = {f["properties"]["kind"] for f in body["features"]}
    assert kinds == {"trajectory", "hop", "sighting"}
    r = api.post(
        "/api/tracks",
        json={
            **CASE,
            "mode": "walk",
            "sightings": [
                {"camera_id": a, "seen_at": "2026-05-01T14:02:00+03:00"},
                {"camera_id": b, "seen_at": "2026-05-01T14:02:10+03:00"},
            ],
        },
    )
    assert r.status_code == 200 and r.json()["feasible"] is False
    assert r.json()["hops"][0]["reason"]
    r = api.post(
        "/api/reachable",
        json={
            **CASE,
            "lat": 60.1699,
            "lon": 24.9414,
            "at": "2026-05-01T14:02:00+03:00",
            "mode": "walk",
            "max_minutes": 10,
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["minutes"] for p in body["isochrones"]] == [1, 3, 5, 10]
    assert body["cameras"] and body["cameras"][0]["playback"].startswith("/api/cameras/")
    r = api.post(
        "/api/tracks/map",
        json={
            **CASE,
            "mode": "walk",
            "sightings": [
                {"camera_id": a, "seen_at": "2026-05-01T14:02:00+03:00"},
                {"camera_id": b, "seen_at": "2026-05-01T14:07:00+03:00"},
            ],
        },
    )
    assert r.status_code == 200 and "leaflet" in r.text.lower() and "clip.mp4" in r.text
    r = api.post(
        "/api/reachable/map", json={**CASE, "lat": 60.1699, "lon": 24.9414, "max_minutes": 5}
    )
    assert r.status_code == 200 and "leaflet" in r.text.lower()
    r = api.post("/api/routes/map", json={**CASE, "from": {"camera_id": a}, "to": {"camera_id": b}})
    assert r.status_code == 200 and "leaflet" in r.text.lower()


def test_api_needs_a_token(client: Any) -> None:
    r = client.post(
        "/api/routes",
        json={"from": {"lat": 60.17, "lon": 24.94}, "to": {"lat": 60.171, "lon": 24.941}},
    )
    assert r.status_code == 401


def test_no_nan_in_answers(session: Session) -> None:
    a, b = _cameras_apart(session, 750, 850)
    res = R.track(session, sightings=[(a, T0), (b, T0 + dt.timedelta(minutes=5))])
    for c in res["hops"][0]["cameras_between"]:
        assert math.isfinite(c["lon"]) and math.isfinite(c["lat"])
