"""Nearest cameras: KNN on geography agrees with brute force; ranking, view flags, sight, roads."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.models import Camera
from geo.nearest import brute_force_nearest, knn_candidates, nearest_cameras, network_distances
from geo.views import GEOD
from tests.conftest import run_async

TOL_M = 0.01  # 1 cm


def _yuseong_points(session: Session, n: int) -> list[tuple[float, float]]:
    """``n`` real Yuseong accident locations, spread evenly over the table (deterministic)."""
    rows = session.execute(
        text("""
        select st_y(geom), st_x(geom) from (
            select geom, row_number() over (order by id) as rn, count(*) over () as total
            from incidents where source = 'kr-accidents') t
        where rn % greatest(total / :n, 1) = 0 order by rn limit :n"""),
        {"n": n},
    ).all()
    return [(float(a), float(b)) for a, b in rows]


def _same_ranking(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    """Equal distances rank by rank within 1 cm; ids may differ only between tied distances."""
    assert len(got) == len(want)
    for (gid, gd), (wid, wd) in zip(got, want, strict=True):
        assert abs(gd - wd) <= TOL_M, (got, want)
        if gid != wid:  # a tie: the other id must be at the same distance in the other list
            assert any(i == gid and abs(d - wd) <= TOL_M for i, d in want + got), (got, want)


def test_knn_agrees_with_brute_force_on_yuseong_accidents(session: Session) -> None:
    points = _yuseong_points(session, 200)
    assert len(points) == 200
    for lat, lon in points:
        cams, _, _ = knn_candidates(session, lat=lat, lon=lon, n=20)
        got = [(int(c["id"]), float(c["distance_m"])) for c in cams[:5]]
        brute = brute_force_nearest(session, lat=lat, lon=lon, k=6)
        want = [(int(b["id"]), float(b["distance_m"])) for b in brute]
        # ties across the 5th/6th place: the 6th may stand in for the 5th
        if abs(want[4][1] - want[5][1]) <= TOL_M and got[4][0] == want[5][0]:
            want[4], want[5] = want[5], want[4]
        _same_ranking(got, want[:5])
        # and the distances agree with pyproj's geodesic for the brute-force set
        lon2 = np.array([b["lon"] for b in brute[:5]])
        lat2 = np.array([b["lat"] for b in brute[:5]])
        _, _, geod = GEOD.inv(lon2, lat2, np.full(5, lon), np.full(5, lat))
        assert np.allclose(geod, [d for _, d in want[:5]], atol=TOL_M, rtol=0)


def test_nearest_cameras_keeps_the_distance_order_within_a_group(session: Session) -> None:
    for lat, lon in _yuseong_points(session, 20):
        res = nearest_cameras(session, lat=lat, lon=lon, k=5)
        assert [c["rank"] for c in res] == [1, 2, 3, 4, 5]
        groups = [c["reason"].split(" ")[0] for c in res]
        assert groups == sorted(groups, key=lambda g: {"sees": 0, "nearest": 2}.get(g, 1))
        near = [c["distance_m"] for c in res if c["reason"].startswith("nearest")]
        assert near == sorted(near)
        for c in res:  # Daejeon's arterial roads and the CNU buildings are in the sample now
            assert c["line_of_sight"] in (None, True, False)
            nd = c["network_distance_m"]
            assert nd is None or nd >= 0.99 * c["distance_m"]  # along roads, never shorter
            assert 0 <= c["bearing_deg"] < 360


def _camera_at(lat: float, lon: float, az: float, dist: float, **attrs: Any) -> Camera:
    """A camera ``dist`` metres from the scene in direction ``az``; ``facing`` turns it to it."""
    clon, clat, back = GEOD.fwd(lon, lat, az, dist)
    facing = attrs.pop("facing", None)
    heading = None if facing is None else (back + facing) % 360.0
    return Camera(
        source="test-nearest",
        external_id=f"t{az}-{dist}",
        purpose=attrs.pop("purpose", "crime_prevention"),
        geom=f"SRID=4326;POINT({clon} {clat})",
        heading_deg=heading,
        **attrs,
    )


def test_ranking_puts_seeing_cameras_first_then_ptz_then_nearest(session: Session) -> None:
    lat, lon = _yuseong_points(session, 1)[0]
    cams = {
        "sees": _camera_at(lat, lon, 90, 40, facing=0.0, fov_deg=60, range_m=80),
        "away": _camera_at(lat, lon, 180, 10, facing=180.0, fov_deg=60, range_m=80),
        "ptz": _camera_at(
            lat, lon, 270, 30, facing=180.0, fov_deg=60, range_m=100, ptz=True, camera_type="ptz"
        ),
        "unknown": _camera_at(lat, lon, 0, 20),
        "far": _camera_at(lat, lon, 45, 200, facing=0.0, fov_deg=60, range_m=80),
    }
    session.add_all(cams.values())
    session.flush()
    res = nearest_cameras(session, lat=lat, lon=lon, k=50, candidates=200)
    by_id = {c["id"]: c for c in res}
    mine = {name: by_id[c.id] for name, c in cams.items()}
    order = [name for c in res for name, m in mine.items() if m is c]
    assert order == ["sees", "ptz", "away", "unknown", "far"]

    assert mine["sees"]["in_view"] is True and mine["sees"]["pan_deg"] == 0.0
    assert mine["sees"]["reason"].startswith("sees the point")
    assert abs(mine["sees"]["distance_m"] - 40) < 0.01
    assert abs(mine["sees"]["bearing_deg"] - 270) < 0.1  # camera east of the point looks west
    assert mine["ptz"]["in_view"] is False and mine["ptz"]["pan_deg"] == pytest.approx(150, abs=0.1)
    assert "must pan 150°" in mine["ptz"]["reason"]
    assert mine["away"]["in_view"] is False and mine["away"]["pan_deg"] is None
    assert "facing away" in mine["away"]["reason"]
    assert mine["unknown"]["in_view"] is None and "direction unknown" in mine["unknown"]["reason"]
    assert mine["far"]["in_view"] is False and "beyond its 80 m range" in mine["far"]["reason"]


def test_max_distance_and_k(session: Session) -> None:
    lat, lon = _yuseong_points(session, 3)[2]
    res = nearest_cameras(session, lat=lat, lon=lon, k=50, max_distance_m=400)
    assert all(c["distance_m"] <= 400 for c in res)
    brute = brute_force_nearest(session, lat=lat, lon=lon, k=50)
    assert len(res) == min(50, sum(b["distance_m"] <= 400 for b in brute))
    assert nearest_cameras(session, lat=lat, lon=lon, k=3)[2]["rank"] == 3
    assert nearest_cameras(session, lat=lat, lon=lon, k=5, max_distance_m=0) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"lat": 91.0, "lon": 127.0}, "lat"),
        ({"lat": 36.0, "lon": -181.0}, "lon"),
        ({"lat": float("nan"), "lon": 127.0}, "lat"),
        ({"lat": 36.0, "lon": 127.0, "k": 0}, "k"),
        ({"lat": 36.0, "lon": 127.0, "k": 51}, "k"),
        ({"lat": 36.0, "lon": 127.0, "max_distance_m": -1.0}, "max_distance_m"),
        ({"lat": 36.0, "lon": 127.0, "k": 5, "candidates": 2}, "candidates"),
    ],
)
def test_bad_input_names_the_field(session: Session, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        nearest_cameras(session, **kwargs)
    assert e.value.field == field


# --- Helsinki: real OSM buildings and roads -------------------------------------------------


def _helsinki_loaded(session: Session) -> bool:
    return bool(
        session.execute(
            text("select exists(select 1 from buildings) and exists(select 1 from road_edges)")
        ).scalar_one()
    )


def test_building_blocks_line_of_sight_helsinki(session: Session) -> None:
    if not _helsinki_loaded(session):
        pytest.skip("Helsinki buildings/roads not in the sample load")
    # a real OSM camera, a real footprint 15-60 m from it, and the point just behind that footprint
    row = session.execute(
        text("""
        select c.id, st_x(c.geom), st_y(c.geom), st_asbinary(b.geom)
        from cameras c join buildings b
          on st_dwithin(b.geom::geography, c.geom::geography, 60)
         and not st_dwithin(b.geom::geography, c.geom::geography, 15)
        where c.source = 'osm' order by c.id, b.id limit 1""")
    ).one()
    cid, clon, clat = int(row[0]), float(row[1]), float(row[2])
    tr = Transformer.from_crs(4326, 3067, always_xy=True)  # ETRS-TM35FIN, metres
    inv = Transformer.from_crs(3067, 4326, always_xy=True)
    bld = shapely.transform(
        shapely.from_wkb(bytes(row[3])), lambda xy: np.column_stack(tr.transform(*xy.T))
    )
    cx, cy = tr.transform(clon, clat)
    centre = bld.representative_point()
    ux, uy = centre.x - cx, centre.y - cy
    norm = float(np.hypot(ux, uy))
    # walk beyond the footprint along the camera->building ray until outside every footprint
    blds = [
        shapely.transform(
            shapely.from_wkb(bytes(w)), lambda xy: np.column_stack(tr.transform(*xy.T))
        )
        for (w,) in session.execute(
            text("""select st_asbinary(geom) from buildings
                    where st_dwithin(geom::geography, st_setsrid(st_makepoint(:x, :y), 4326)::geography, 400)"""),
            {"x": clon, "y": clat},
        )
    ]
    d = norm
    while d < norm + 200:
        p = shapely.Point(cx + ux / norm * d, cy + uy / norm * d)
        if not any(b.contains(p) for b in blds) and not bld.contains(p) and d > norm:
            break
        d += 1.0
    plon, plat = inv.transform(p.x, p.y)
    seg = shapely.LineString([(cx, cy), (p.x, p.y)])
    mount = shapely.Point(cx, cy).buffer(2.0)
    expected_clear = not any(b.intersects(seg) and not b.intersects(mount) for b in blds)
    assert expected_clear is False  # the footprint is in the way by construction

    res = nearest_cameras(session, lat=plat, lon=plon, k=50, candidates=200)
    mine = next(c for c in res if c["id"] == cid)
    assert mine["line_of_sight"] is False
    assert "building blocks" in mine["reason"] and not mine["reason"].startswith("sees")
    assert all(c["line_of_sight"] is not None for c in res)  # buildings known here


def test_network_distance_helsinki(session: Session) -> None:
    if not _helsinki_loaded(session):
        pytest.skip("Helsinki buildings/roads not in the sample load")
    lat, lon = 60.1699, 24.9384  # Helsinki central railway station square
    res = nearest_cameras(session, lat=lat, lon=lon, k=5)
    got = [c for c in res if c["network_distance_m"] is not None]
    assert got, res
    for c in got:  # along roads plus both snaps is never shorter than the straight line
        assert c["network_distance_m"] >= c["distance_m"] - 0.5
    # the old rule, for comparison: pgr_dijkstra between the nearest road nodes
    one = got[0]
    full = session.execute(
        text("""
        with s as (select id from road_nodes order by geom <-> st_setsrid(st_makepoint(:lon, :lat), 4326) limit 1),
             t as (select id from road_nodes order by geom <-> st_setsrid(st_makepoint(:clon, :clat), 4326) limit 1)
        select coalesce((select agg_cost from pgr_dijkstra(
            'select id, source, target, length_m as cost, length_m as reverse_cost from road_edges',
            (select id from s), (select id from t), directed => false) where edge = -1), 0)"""),
        {"lon": lon, "lat": lat, "clon": one["lon"], "clat": one["lat"]},
    ).scalar_one()
    again = network_distances(session, lat=lat, lon=lon, cameras=[one])[one["id"]]
    assert again == pytest.approx(one["network_distance_m"])
    # the routes' snapping rule (nearest edge, virtual node; issue 15) may be shorter than the
    # old node-to-node rule (here 35 m against 57 m), never much longer; exact agreement with
    # find_route and pgr_dijkstra is in tests/test_one_engine.py
    assert again <= float(full) + 2 * 300.0


# --- API ------------------------------------------------------------------------------------


@pytest.fixture
def api(make_user: Any, auth_client: Any) -> Any:
    """A client logged in as a police officer (every /api route needs a token)."""
    return auth_client(make_user("nearest-officer"))


def test_api_nearest_needs_a_token(client: Any) -> None:
    r = client.get("/api/cameras/nearest", params={"lat": 36.36, "lon": 127.35})
    assert r.status_code == 401


def test_api_nearest_geojson(api: Any) -> None:
    r = api.get("/api/cameras/nearest", params={"lat": 36.3620, "lon": 127.3440, "k": 5})
    assert r.status_code == 200, r.text
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 5
    for i, f in enumerate(fc["features"], start=1):
        p = f["properties"]
        assert f["geometry"]["type"] == "Point"
        assert p["rank"] == i
        for key in (
            "distance_m",
            "bearing_deg",
            "in_view",
            "pan_deg",
            "line_of_sight",
            "network_distance_m",
            "reason",
        ):
            assert key in p


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("lat=91&lon=127", "lat"),
        ("lat=-90.5&lon=127", "lat"),
        ("lat=36&lon=181", "lon"),
        ("lat=36&lon=127&k=0", "k"),
        ("lat=36&lon=127&k=51", "k"),
        ("lat=36&lon=127&max_distance_m=-5", "max_distance_m"),
        ("lat=abc&lon=127", "lat"),
        ("lon=127", "lat"),
    ],
)
def test_api_nearest_bad_input(api: Any, query: str, field: str) -> None:
    r = api.get(f"/api/cameras/nearest?{query}")
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == field


def test_camera_by_id_route_does_not_capture_nearest(api: Any) -> None:
    one = api.get("/api/cameras", params={"limit": 1}).json()["features"][0]
    assert api.get(f"/api/cameras/{one['id']}").status_code == 200
    assert api.get("/api/cameras/nearest", params={"lat": 36.36, "lon": 127.35}).status_code == 200


# --- the exact KNN in degrees, its geography fallback, the async path --------------------------


def test_degree_bound_holds_on_the_ellipsoid() -> None:
    """The lower bound behind the degree KNN: geodesic >= M_MIN * cos(phi_max) * planar radians."""
    from geo.nearest import M_MIN_M

    rng = np.random.default_rng(7)
    lat1 = rng.uniform(-80, 80, 20_000)
    lon1 = rng.uniform(-170, 170, 20_000)
    dlat = rng.normal(0, 0.05, 20_000)
    dlon = rng.normal(0, 0.05, 20_000)
    lat2 = np.clip(lat1 + dlat, -89.9, 89.9)
    lon2 = lon1 + dlon
    _, _, s = GEOD.inv(lon1, lat1, lon2, lat2)
    band = np.degrees(s / M_MIN_M) + 1e-3
    c = np.cos(np.radians(np.abs(lat1) + band))
    planar = np.radians(np.hypot(lat2 - lat1, lon2 - lon1))
    assert np.all(s >= M_MIN_M * c * planar * (1 - 1e-9))


def test_geography_fallback_gives_the_same_candidates(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the degree fetch cannot be proven complete the geography index answers instead."""
    import geo.nearest as nearest_mod

    points = _yuseong_points(session, 30)
    fast = [knn_candidates(session, lat=a, lon=b, n=20)[0] for a, b in points]
    calls: list[bool] = []

    def never(**kw: Any) -> bool:
        calls.append(False)
        return False

    monkeypatch.setattr(nearest_mod, "_degree_fetch_is_complete", never)
    slow = [knn_candidates(session, lat=a, lon=b, n=20)[0] for a, b in points]
    assert len(calls) == len(points)
    for f, s in zip(fast, slow, strict=True):
        _same_ranking(
            [(int(c["id"]), float(c["distance_m"])) for c in f[:5]],
            [(int(c["id"]), float(c["distance_m"])) for c in s[:5]],
        )


def test_degree_fetch_declines_at_the_antimeridian_and_poles() -> None:
    from geo.nearest import _degree_fetch_is_complete as complete

    kw: dict[str, Any] = {"fetched": 40, "asked": 40, "nth_m": 100.0}
    assert complete(lat=36.0, lon=127.0, last_deg=0.01, **kw)
    assert not complete(lat=36.0, lon=127.0, last_deg=0.0005, **kw)  # 45 m < 100 m
    assert not complete(lat=10.0, lon=179.999, last_deg=0.01, **kw)
    assert not complete(lat=89.5, lon=0.0, last_deg=0.01, **kw)
    assert complete(lat=36.0, lon=127.0, last_deg=0.0, fetched=3, asked=40, nth_m=100.0)


def test_async_path_matches_the_sync_ranking(session: Session) -> None:
    from geo.db import SessionReader
    from geo.nearest import nearest_cameras_async

    for lat, lon in _yuseong_points(session, 10):
        sync = nearest_cameras(session, lat=lat, lon=lon, k=5)
        got = run_async(nearest_cameras_async(SessionReader(session), lat=lat, lon=lon, k=5))
        assert got == sync


def test_read_connection_refuses_writes(engine: Any, sample_loaded: Any) -> None:
    """The API's read-only pool: autocommit, and PostgreSQL refuses any write on it.

    Bounded: every wait has a deadline, and the pool is closed inside the loop that opened it
    (a pool left open hung ``asyncio.run`` once, cancelling its workers at exit).
    """
    import asyncio

    import psycopg
    from sqlalchemy import text as sa_text

    from geo.db import close_read_pools, read_connection

    async def check() -> None:
        async with read_connection(engine.url.render_as_string(hide_password=False)) as r:
            rows = await r.fetch(sa_text("select count(*) as n from cameras"), {})
            assert rows[0]["n"] > 0
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                await r.fetch(sa_text("delete from cameras where id = :i"), {"i": -1})

    async def go() -> None:
        try:
            await asyncio.wait_for(check(), timeout=60)
        finally:
            await asyncio.wait_for(close_read_pools(timeout_s=5), timeout=15)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not left, f"tasks left for asyncio.run to cancel: {left}"

    run_async(go())


def test_stream_url_hidden_in_nearest_answers(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    """A video source URL may hold RTSP credentials: only admins see it, in every answer."""
    lat, lon = 36.3620, 127.3440
    first = nearest_cameras(session, lat=lat, lon=lon, k=1)[0]["id"]
    session.execute(
        text("update cameras set stream_url = 'rtsp://u:secret@10.0.0.9/s1' where id = :i"),
        {"i": first},
    )
    officer = auth_client(make_user("nearest-officer-2"))
    admin = auth_client(make_user("nearest-admin", role="admin", agency=None))
    q = {"lat": lat, "lon": lon, "k": 3}
    p = officer.get("/api/cameras/nearest", params=q).json()["features"][0]["properties"]
    assert p["id"] == first and p["stream_url"] is None and p["has_stream"] is True
    assert "secret" not in officer.get("/api/cameras/nearest", params=q).text
    p = admin.get("/api/cameras/nearest", params=q).json()["features"][0]["properties"]
    assert p["stream_url"].startswith("rtsp://")
