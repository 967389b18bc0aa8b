"""Coverage summary, gap grid, map and the planner API (real PostGIS, bundled data + hand-made cameras)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.bbox import BBox
from geo.coverage import (
    MAX_GRID_CELLS,
    coverage_gaps,
    coverage_summary,
    gaps_geojson,
    incident_coverage,
    resolution_for_cell_size,
    within_distance_table,
)
from geo.errors import InvalidInput
from geo.views import refresh_camera_views

GEOD = Geod(ellps="WGS84")
# An empty place (Jeju, no bundled data) for hand-made cameras and incidents.
LON0, LAT0 = 126.5, 33.4
JEJU = BBox(LON0 - 0.01, LAT0 - 0.01, LON0 + 0.01, LAT0 + 0.01)
YUSEONG = BBox(127.33, 36.35, 127.36, 36.37)
HELSINKI = BBox(24.92, 60.16, 24.96, 60.18)


def _at(az_deg: float, dist_m: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(LON0, LAT0, az_deg, dist_m)
    return float(lon), float(lat)


@pytest.fixture
def handmade(session: Session) -> dict[str, Any]:
    """Two cameras on one pole: a fixed camera looking east (fov 90, range 100 m) and one with
    unknown direction (circle of the 50 m default); three incidents: 40 m east (covered), 70 m west
    (not covered, within 100 m) and 500 m north (far)."""
    ids = []
    for ext, purpose, heading, fov, rng, ctype in [
        ("fixed-east", "traffic", 90.0, 90.0, 100.0, "fixed"),
        ("circle", "crime_prevention", None, None, None, None),
    ]:
        ids.append(
            session.execute(
                text("""
                insert into cameras (source, external_id, purpose, geom, heading_deg, fov_deg,
                                     range_m, camera_type)
                values ('test-coverage', :e, :p, st_setsrid(st_makepoint(:x, :y), 4326), :h, :f,
                        :r, :t) returning id"""),
                {
                    "e": ext,
                    "p": purpose,
                    "x": LON0,
                    "y": LAT0,
                    "h": heading,
                    "f": fov,
                    "r": rng,
                    "t": ctype,
                },
            ).scalar_one()
        )
    refresh_camera_views(session, camera_ids=ids)
    for name, az, dist in [
        ("east40", 90.0, 40.0),
        ("west70", 270.0, 70.0),
        ("north500", 0.0, 500.0),
    ]:
        x, y = _at(az, dist)
        session.execute(
            text("""
            insert into incidents (kind, occurred_at, geom, source, external_id)
            values ('police', '2024-03-01T10:00:00Z', st_setsrid(st_makepoint(:x, :y), 4326),
                    'test-coverage', :e)"""),
            {"x": x, "y": y, "e": name},
        )
    return {"camera_ids": ids}


def test_summary_on_handmade_cameras(session: Session, handmade: dict[str, Any]) -> None:
    s = coverage_summary(session, bbox=JEJU)
    assert s["cameras"]["count"] == 2 and s["cameras"]["direction_known"] == 1
    assert s["cameras"]["by_purpose"] == {
        "crime_prevention": {"cameras": 1, "camera_units": 1},
        "traffic": {"cameras": 1, "camera_units": 1},
    }
    quarter = math.pi * 100**2 / 4  # sector r=100, fov 90
    circle = math.pi * 50**2
    overlap = math.pi * 50**2 / 4  # the quarter of the circle inside the sector
    cov = s["coverage"]
    assert cov["covered_area_m2"] == pytest.approx(quarter + circle - overlap, rel=0.02)
    assert cov["overlap_area_m2"] == pytest.approx(overlap, rel=0.02)
    assert cov["overlap_share"] == pytest.approx(overlap / (quarter + circle - overlap), rel=0.03)
    inc = s["incidents"]
    assert inc["incidents"] == 3 and inc["in_coverage"] == 1
    assert {d: v["count"] for d, v in inc["within_m"].items()} == {"50": 1, "100": 2, "300": 2}
    assert inc["by_kind"]["police"]["incidents"] == 3 and "2024" in inc["by_year"]
    # no roads in Jeju: honest zero with a note
    assert s["roads"]["road_length_m"] == 0 and any("road" in n for n in s["notes"])
    # only the crime-prevention circle: the east incident is still covered, the west one not
    s2 = coverage_summary(session, bbox=JEJU, purposes=["crime_prevention"])
    assert s2["incidents"]["in_coverage"] == 1 and s2["coverage"]["overlap_area_m2"] == 0
    # time filter excludes them all
    s3 = coverage_summary(session, bbox=JEJU, end=__import__("datetime").datetime(2020, 1, 1))
    assert s3["incidents"]["incidents"] == 0


def test_gaps_on_handmade_cameras(session: Session, handmade: dict[str, Any]) -> None:
    g = coverage_gaps(session, bbox=JEJU, cell_size_m=30)
    cells = g["cells"]
    assert sum(c["incidents"] for c in cells) == 3
    assert sum(c["gap_score"] for c in cells) == 2
    assert all(0.0 <= c["covered_fraction"] <= 1.0 for c in cells)
    # cells partition the plane, so their covered areas add up to the covered area
    union = coverage_summary(session, bbox=JEJU)["coverage"]["covered_area_m2"]
    assert sum(c["covered_area_m2"] for c in cells) == pytest.approx(union, rel=0.02)
    assert cells[0]["gap_score"] == 1  # sorted by gap score
    fc = gaps_geojson(g)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == len(cells)
    ring = fc["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 7
    full = coverage_gaps(session, bbox=JEJU, cell_size_m=30, include_empty=True)
    assert len(full["cells"]) == full["meta"]["grid_cells"] > len(cells)


def test_daejeon_circles_match_the_distance_measure(session: Session) -> None:
    """Crime-prevention cameras have no direction: views are 50 m circles (a polygon inscribed in
    the circle), so 'in coverage' lies between 'within 49 m' and 'within 50 m'."""
    s = coverage_summary(
        session, bbox=YUSEONG, purposes=["crime_prevention"], distances_m=(49, 50, 100, 300)
    )
    inc = s["incidents"]
    w = {k: v["count"] for k, v in inc["within_m"].items()}
    assert w["49"] <= inc["in_coverage"] <= w["50"] <= w["100"] <= w["300"] <= inc["incidents"]
    assert inc["in_coverage"] > 0 and s["roads"]["road_length_m"] > 0  # Daejeon's arterials
    assert s["cameras"]["by_purpose"]["crime_prevention"]["cameras"] > 0


def test_whole_database_summary(session: Session) -> None:
    s = coverage_summary(session)
    n_cams = session.execute(text("select count(*) from cameras")).scalar_one()
    n_inc = session.execute(text("select count(*) from incidents")).scalar_one()
    assert s["cameras"]["count"] == n_cams and s["incidents"]["incidents"] == n_inc
    assert s["area"]["whole"] and 0 <= (s["coverage"]["overlap_share"] or 0) <= 1
    assert sum(v["cameras"] for v in s["cameras"]["by_purpose"].values()) == n_cams


def test_road_coverage_where_roads_are_loaded(session: Session) -> None:
    n = session.execute(
        text(
            "select count(*) from road_edges where geom && st_makeenvelope(24.92, 60.16, "
            "24.96, 60.18, 4326)"
        )
    ).scalar_one()
    if not n:
        pytest.skip("no Helsinki roads in the test database")
    r = coverage_summary(session, bbox=HELSINKI)["roads"]
    assert r["road_length_m"] > 0 and 0 < r["covered_length_m"] < r["road_length_m"]
    assert sum(v["length_m"] for v in r["by_highway"].values()) == pytest.approx(
        r["road_length_m"], rel=1e-4
    )
    for v in r["by_highway"].values():
        assert 0 <= v["covered_length_m"] <= v["length_m"] + 1e-6


def test_incident_table_by_year(session: Session) -> None:
    df = incident_coverage(session, bbox=YUSEONG, purposes=["crime_prevention"])
    df["year"] = df["occurred_at"].dt.tz_convert("Asia/Seoul").dt.year
    t = within_distance_table(df, by="year")
    assert list(t.index) == [2017, 2018, 2019, 2020, 2021]
    assert t["incidents"].sum() == len(df)
    assert (t["within_50m"] <= t["within_100m"]).all() and (t["within_300m_share"] <= 1).all()


def test_resolution_and_huge_grids() -> None:
    assert resolution_for_cell_size(200) == 9 and resolution_for_cell_size(75) == 10
    with pytest.raises(InvalidInput) as ei:
        resolution_for_cell_size(-5)
    assert ei.value.field == "cell_size_m"


def test_huge_grid_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput) as ei:
        coverage_gaps(session, bbox=BBox(126.0, 35.0, 128.0, 37.0), cell_size_m=20)
    assert ei.value.field == "cell_size_m" and ei.value.detail["estimated_cells"] > MAX_GRID_CELLS
    with pytest.raises(InvalidInput) as ei:
        coverage_gaps(session, bbox=BBox(126.0, 35.0, 128.0, 37.0), resolution=12)
    assert ei.value.field == "resolution"


# --- API --------------------------------------------------------------------------------------


@pytest.fixture
def planner(make_user: Any, auth_client: Any) -> Any:
    return auth_client(make_user("planner-cov", role="planner"))


def test_api_summary_gaps_siting(planner: Any) -> None:
    b = "127.33,36.35,127.36,36.37"
    r = planner.get("/api/coverage/summary", params={"bbox": b, "purpose": "crime_prevention"})
    assert r.status_code == 200, r.text
    assert r.json()["incidents"]["incidents"] > 0
    r = planner.get("/api/coverage/gaps", params={"bbox": b, "cell_size_m": 100})
    assert r.status_code == 200, r.text
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and fc["features"]
    assert {"incidents", "covered_fraction", "gap_score"} <= set(fc["features"][0]["properties"])
    r = planner.post(
        "/api/siting",
        json={"k": 3, "radius_m": 50, "demand": {"bbox": b, "kind": "traffic"}, "method": "both"},
    )
    assert r.status_code == 200, r.text
    out = r.json()
    # candidates: Daejeon's arterial road nodes (the grid only where no roads are loaded)
    assert len(out["features"]) == 3 and out["candidate_source"] == "road_nodes"
    assert out["features"][0]["properties"]["marginal_gain"] > 0
    assert {"greedy", "exact"} == set(out["solutions"])


def test_api_needs_a_planner(make_user: Any, auth_client: Any) -> None:
    r = auth_client(None).get("/api/coverage/summary")
    assert r.status_code == 401
    r = auth_client(make_user("officer-cov", role="police")).get("/api/coverage/summary")
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "field"),
    [
        (
            "get",
            "/api/coverage/gaps",
            {"params": {"bbox": "126,35,128,37", "cell_size_m": 50}},
            "cell_size_m",
        ),
        ("get", "/api/coverage/gaps", {"params": {"resolution": 16}}, "resolution"),
        ("get", "/api/coverage/gaps", {"params": {"cell_size_m": 0}}, "cell_size_m"),
        ("get", "/api/coverage/summary", {"params": {"bbox": "1,2,3"}}, "bbox"),
        ("get", "/api/coverage/summary", {"params": {"kind": "meteor"}}, "kind"),
        ("get", "/api/coverage/summary", {"params": {"purpose": "spying"}}, "purpose"),
        (
            "get",
            "/api/coverage/summary",
            {"params": {"start": "2021-01-01T00:00:00Z", "end": "2020-01-01T00:00:00Z"}},
            "start",
        ),
        ("post", "/api/siting", {"json": {"k": 0}}, "k"),
        ("post", "/api/siting", {"json": {"k": 100000}}, "k"),
        ("post", "/api/siting", {"json": {"radius_m": 50}}, "k"),
        ("post", "/api/siting", {"json": {"k": 3, "radius_m": 0}}, "radius_m"),
        ("post", "/api/siting", {"json": {"k": 3, "method": "guess"}}, "method"),
        (
            "post",
            "/api/siting",
            {"json": {"k": 3, "demand": {"bbox": "10,10,10.01,10.01"}}},
            "bbox",
        ),
        ("post", "/api/siting", {"json": {"k": 3, "demand": {"bbox": "x"}}}, "demand.bbox"),
        (
            "post",
            "/api/siting",
            {"json": {"k": 3, "candidates": [{"lon": 200, "lat": 1}]}},
            "candidates.0.lon",
        ),
    ],
)
def test_api_bad_parameters_are_4xx_naming_the_field(
    planner: Any, method: str, path: str, kwargs: dict, field: str
) -> None:
    r = getattr(planner, method)(path, **kwargs)
    assert 400 <= r.status_code < 500, r.text[:300]
    assert r.json()["detail"]["field"] == field, r.json()


def test_api_empty_area_says_no_incidents(planner: Any) -> None:
    r = planner.post("/api/siting", json={"k": 3, "demand": {"bbox": "10,10,10.01,10.01"}})
    assert r.status_code == 422 and "no incidents" in r.json()["detail"]["message"]


def test_api_map_is_offline_html(planner: Any) -> None:
    r = planner.get(
        "/api/coverage/map",
        params={"bbox": "127.33,36.35,127.36,36.37", "k": 3, "cell_size_m": 100},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "/static/vendor/leaflet/leaflet.js" in html
    assert "https://" not in html.split("<body")[0] or "cdn" not in html.lower()
    assert "Proposed sites" in html and "Camera views" in html


def test_np_types_are_plain_json(session: Session) -> None:
    g = coverage_gaps(session, bbox=YUSEONG, cell_size_m=150)
    assert all(isinstance(c["incidents"], int) for c in g["cells"])
    assert not any(isinstance(v, np.generic) for c in g["cells"] for v in c.values())


# --- the per-shape, per-cluster computation equals the one giant union it replaced ------------


def _reference_areas(
    session: Session, bbox: BBox, purposes: list[str] | None = None
) -> dict[str, float]:
    """Covered, overlap and summed view areas as the first version computed them: one ST_Union of
    all views (cut by ST_Subdivide) and one ST_Union of every pairwise intersection (slow on the
    whole database)."""
    cw = "c.status = 'active'" + (" and c.purpose = any(:purposes)" if purposes else "")
    env = "st_makeenvelope(:x0, :y0, :x1, :y1, 4326)"
    row = session.execute(
        text(f"""
        with v as (
            select v.camera_id, st_intersection(v.geom, {env}) as geom from camera_views v
              join cameras c on c.id = v.camera_id
             where {cw} and v.geom && {env} and st_intersects(v.geom, {env})),
        o as (select st_union(st_intersection(a.geom, b.geom)) as g
              from v a join lateral (
                  select b.geom from camera_views b join cameras c on c.id = b.camera_id
                  where b.camera_id > a.camera_id and st_intersects(b.geom, a.geom) and {cw}
              ) b on true)
        select (select count(*) from v) as views,
               coalesce((select sum(st_area(p::geography))
                           from (select st_subdivide(st_union(geom), 96) as p from v) u), 0)
                 as covered,
               coalesce((select sum(st_area(geom::geography)) from v), 0) as summed,
               coalesce((select st_area(g::geography) from o), 0) as overlap"""),
        {
            "x0": bbox.min_lon,
            "y0": bbox.min_lat,
            "x1": bbox.max_lon,
            "y1": bbox.max_lat,
            "purposes": purposes,
        },
    ).one()
    return {
        "views": row.views,
        "covered_area_m2": float(row.covered),
        "sum_of_view_areas_m2": float(row.summed),
        "overlap_area_m2": float(row.overlap),
    }


def _assert_same_areas(got: dict[str, Any], ref: dict[str, float]) -> None:
    assert got["views"] == ref["views"]
    for key in ("covered_area_m2", "sum_of_view_areas_m2", "overlap_area_m2"):
        # equal up to noise: the covered area sums the geodesic areas of ST_Subdivide pieces, and
        # pieces cut per cluster have other cut edges than pieces of one union (< 1e-6 relative)
        assert got[key] == pytest.approx(ref[key], rel=1e-6, abs=0.11), key


def test_summary_areas_equal_the_single_union(session: Session, handmade: dict[str, Any]) -> None:
    """A third camera on the pole repeats the direction-less circle: its shape is seen twice, so
    the whole circle is overlap (the fast path), and everything equals the single-union result."""
    session.execute(
        text("""
        insert into cameras (source, external_id, purpose, geom)
        values ('test-coverage', 'circle-twin', 'crime_prevention',
                st_setsrid(st_makepoint(:x, :y), 4326)) returning id"""),
        {"x": LON0, "y": LAT0},
    )
    twin = session.execute(
        text("select id from cameras where external_id = 'circle-twin'")
    ).scalar_one()
    refresh_camera_views(session, camera_ids=[twin])
    cov = coverage_summary(session, bbox=JEJU)["coverage"]
    _assert_same_areas(cov, _reference_areas(session, JEJU))
    quarter, circle = math.pi * 100**2 / 4, math.pi * 50**2
    assert cov["views"] == 3
    assert cov["overlap_area_m2"] == pytest.approx(circle, rel=0.02)
    assert cov["covered_area_m2"] == pytest.approx(quarter + circle - circle / 4, rel=0.02)
    # real data: co-located Daejeon cameras from several lists, views clipped at the bbox edge
    for purposes in (None, ["crime_prevention"]):
        got = coverage_summary(session, bbox=YUSEONG, purposes=purposes)["coverage"]
        assert got["views"] > 100 and got["overlap_area_m2"] > 0
        _assert_same_areas(got, _reference_areas(session, YUSEONG, purposes))
