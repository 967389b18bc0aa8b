"""Daejeon, whole: roads, buildings and the national standard CCTV file, on the real files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput, LoadError
from geo.load.buildings import (
    KR_TYPE,
    STOREY_HEIGHT_M,
    load_building_file,
    load_buildings_any,
    overpass_rows,
)
from geo.load.cameras import kr_direction, load_cameras, parse_cameras
from geo.load.lines import line_rows, load_road_lines, load_roads_any, parse_oneway, read_lines
from geo.load.osm import DEFAULT_SPEED_KPH

DATA = Path(__file__).resolve().parent.parent / "data"
ROADS = DATA / "daejeon-osm" / "daejeon_arterial_osm.geojson"
CNU = DATA / "daejeon-osm" / "yuseong_cnu_osm_buildings.geojson"
OVERPASS = sorted((DATA / "daejeon-osm" / "overpass_raw").glob("*.json"))
KR_SHP = DATA / "korea-buildings" / "CH_D010_00_20250731.shp"
STANDARD = DATA / "daejeon-cctv" / "national_standard_cctv_daejeon_2026_cp949.csv"

IN_DAEJEON = "st_x(st_startpoint(geom)) between 127 and 128"
# 6,592 osmnx edges: 1,570 twin pairs (u->v, v->u, reversed geometry) fold into one two-way row
# each: 6,592 - 1,570 = 5,022 rows on 3,212 nodes (SOURCE.md)
N_EDGES, N_ROWS, N_NODES, N_TWINS = 6592, 5022, 3212, 1570


# --------------------------------------------------------------------------- roads


def test_sample_has_daejeon_roads(session: Session) -> None:
    n = session.execute(
        text(f"""select count(*), count(*) filter (where oneway), count(*) filter (where drivable),
                       sum(length_m), bool_and(st_isvalid(geom))
                from road_edges where {IN_DAEJEON}""")
    ).one()
    # every edge two-way (no oneway column); all drivable but the one 'primary=planned' edge
    assert n[:3] == (N_ROWS, 0, N_ROWS - 1) and n[4]
    nodes = session.execute(
        text("select count(*) from road_nodes where st_x(geom) between 127 and 128")
    ).scalar_one()
    assert nodes == N_NODES
    # lengths are measured: the same as PostGIS's geodesic length of each line, to a centimetre
    worst = session.execute(
        text(f"""select max(abs(length_m - st_length(geom::geography, true)))
                 from road_edges where {IN_DAEJEON}""")
    ).scalar_one()
    assert worst < 0.01
    # per-class default speeds, the same table the OSM loader and the routing engine use
    speeds = dict(
        session.execute(
            text(f"""select highway, min(speed_kph) from road_edges
                     where {IN_DAEJEON} group by highway having min(speed_kph) = max(speed_kph)""")
        ).all()
    )
    for cls in ("motorway", "trunk", "primary", "secondary", "tertiary", "secondary_link"):
        assert speeds[cls] == DEFAULT_SPEED_KPH[cls]


def test_osmnx_columns_and_report(session: Session) -> None:
    rep = load_road_lines(session, path=ROADS, progress=False)
    assert (rep.rows_read, rep.inserted, rep.updated, rep.unchanged, rep.rejected) == (
        N_EDGES,
        0,
        0,
        N_ROWS,
        0,
    )
    said = " | ".join(rep.warnings)
    assert f"{N_TWINS} osmnx twin pairs" in said
    assert "one-way unknown for 3452 edges (no oneway column): loaded as two-way" in said
    assert "geodesic metres" in said and "default speed" in said


def test_plain_lines_meet_at_shared_end_points(session: Session, tmp_path: Path) -> None:
    """Without u/v the same network comes out of the lines alone (GeoPackage and Shapefile)."""
    gdf = gpd.read_file(ROADS)[["highway", "name", "geometry"]]
    gpkg = tmp_path / "roads.gpkg"
    gdf.to_file(gpkg, driver="GPKG")
    shp = tmp_path / "roads.shp"
    gdf.to_crs(5186).to_file(shp, engine="pyogrio", encoding="utf-8")  # projected, with .prj
    nodes, edges, rejects, counts = line_rows(read_lines(gpkg))
    assert len(nodes) == N_NODES and not rejects
    assert all(n["id"] < 0 for n in nodes)  # never an OSM id
    # 6 more parallel twin lines fold than with u/v (their keys differ in the osmnx file)
    assert counts["twins_folded"] == N_TWINS + 6 and len(edges) == N_ROWS - 6
    rep = load_roads_any(session, path=shp, progress=False)
    assert rep.fmt == "shp" and rep.rejected == 0 and rep.inserted == N_ROWS - 6
    assert any("plain lines" in w for w in rep.warnings)
    # the osmnx rows of the same area were replaced (all but a few edges that bulge out of the
    # nodes' convex hull: pruning removes only what lies inside the file's area)
    new, old = session.execute(
        text(f"""select count(*) filter (where source < 0), count(*) filter (where source > 0)
                 from road_edges where {IN_DAEJEON}""")
    ).one()
    assert new == N_ROWS - 6 and old < 10
    again = load_roads_any(session, path=shp, progress=False)
    assert (again.inserted, again.updated) == (0, 0)


def test_bad_features_are_reported_with_their_number(session: Session, tmp_path: Path) -> None:
    line = [[127.35, 36.35], [127.351, 36.351]]
    feats = [
        {"type": "Feature", "properties": {"highway": "primary"}, "geometry": None},
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
        {
            "type": "Feature",
            "properties": {"highway": "primary", "oneway": "yes"},
            "geometry": {"type": "LineString", "coordinates": line},
        },
        {
            "type": "Feature",
            "properties": {"highway": "residential", "oneway": "-1", "maxspeed": "30"},
            "geometry": {
                "type": "LineString",
                "coordinates": [[127.351, 36.351], [127.352, 36.35]],
            },
        },
        {
            "type": "Feature",
            "properties": {"highway": "residential", "oneway": "no"},
            "geometry": {"type": "LineString", "coordinates": [[127.352, 36.35], [127.352, 36.35]]},
        },
    ]
    f = tmp_path / "bad.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    rep = load_road_lines(session, path=f, progress=False)
    by_row = {r.row: r for r in rep.rejects}
    assert set(by_row) == {1, 2, 5}
    assert by_row[1].reason == "feature without geometry"
    assert "Point, not a line" in by_row[2].reason
    assert "fewer than 2 points" in by_row[5].reason
    rows = session.execute(
        text("""select highway, oneway, reverse_cost, speed_kph, st_x(st_startpoint(geom))
                from road_edges
                where st_dwithin(geom::geography, st_point(127.351, 36.351, 4326)::geography, 1)
                order by highway""")
    ).all()
    primary, residential = rows
    assert primary.oneway and primary.reverse_cost == -1
    assert primary.speed_kph == DEFAULT_SPEED_KPH["primary"]
    # oneway=-1: one-way against the drawing direction, so the geometry is reversed
    assert residential.oneway and residential.speed_kph == 30 and residential[4] == 127.352
    assert parse_oneway("yes") is True and parse_oneway("no") is False
    assert parse_oneway("-1") == "reverse" and parse_oneway(None) is None
    assert parse_oneway("maybe") is None


def test_osmnx_ids_must_be_numbers(tmp_path: Path, session: Session) -> None:
    feat = {
        "type": "Feature",
        "properties": {"u": "a", "v": 2, "key": 0, "highway": "primary"},
        "geometry": {"type": "LineString", "coordinates": [[127.35, 36.35], [127.36, 36.36]]},
    }
    ok = {**feat, "properties": {"u": 1, "v": 2, "key": 0, "highway": "primary"}}
    f = tmp_path / "ids.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [feat, ok]}))
    rep = load_road_lines(session, path=f, progress=False)
    assert [(r.row, r.field) for r in rep.rejects] == [(1, "u/v/key")]
    with pytest.raises(InvalidInput) as e:
        load_road_lines(session, path=f, fmt="kml", progress=False)
    assert e.value.field == "format"
    junk = tmp_path / "junk.geojson"
    junk.write_text("{not json")
    with pytest.raises(LoadError) as e2:
        load_road_lines(session, path=junk, progress=False)
    assert e2.value.field == "file"


# --------------------------------------------------------------------------- buildings


def test_cnu_buildings_in_sample_and_overpass_gives_the_same_rows(session: Session) -> None:
    n = session.execute(
        text("select count(*) from buildings where st_x(st_centroid(geom)) between 127 and 128")
    ).scalar_one()
    assert n == 274
    ins = upd = 0
    rejects = []
    for f in OVERPASS:
        rep = load_building_file(session, path=f, progress=False)
        assert rep.fmt == "overpass"
        ins, upd = ins + rep.inserted, upd + rep.updated
        rejects += [(f.name, r.reason, r.value) for r in rep.rejects]
    # the merged GeoJSON and the raw Overpass answers are the same 274 buildings, row for row,
    # but one: relation 17982068 has two *outer* rings, one inside the other; osmnx (which made the
    # GeoJSON) cut the small one out as a hole, the Overpass loader keeps the building solid
    assert (ins, upd) == (0, 1)
    holes = session.execute(
        text("""select st_numinteriorrings(st_geometryn(geom, 1)) from buildings
                where osm_type = 'relation' and osm_id = 17982068""")
    ).scalar_one()
    assert holes == 0
    assert rejects == [
        (
            "5bfc94a0fbb955d9b9117b535c362a12ef855f91.json",
            "building mapped as a point: no footprint",
            "node/4636978200",
        )
    ]
    # a multipolygon relation with a courtyard (inner ring): 공과대학1호관
    row = session.execute(
        text("""select name, st_numinteriorrings(st_geometryn(geom, 1)) from buildings
                where osm_type = 'relation' and osm_id = 1370208""")
    ).one()
    assert row == ("공과대학1호관", 1)


def test_storeys_become_height(session: Session) -> None:
    rows, _, _ = overpass_rows(OVERPASS[0])
    for r in rows:
        if r["levels"] is not None and "height" not in r["raw"]:
            assert r["height_m"] == r["levels"] * STOREY_HEIGHT_M
            assert r["raw"]["height_source"] == "storeys x 3 m"


def test_korean_building_shapefile(session: Session) -> None:
    rep = load_buildings_any(session, path=KR_SHP, progress=False)
    assert rep.fmt == "kr-building" and rep.encoding == "cp949"
    # 946 rows: 6 deletion records (A29 = D, no footprint), 4 repeats of a row before them
    assert (rep.rows_read, rep.inserted, rep.rejected) == (946, 936, 0)
    said = " | ".join(rep.warnings)
    assert "EPSG:5186" in said and "6 deletion records" in said
    assert said.count("loaded once") == 4
    dj = session.execute(
        text("""select name, building, height_m, levels, raw->>'A4', raw->>'height_source',
                       st_x(st_centroid(geom)), st_y(st_centroid(geom))
                from buildings where osm_type = :t and raw->>'A4' like '대전광역시 유성구%'
                order by name nulls last"""),
        {"t": KR_TYPE},
    ).all()
    assert len(dj) == 2
    neuro = dj[0]
    # A24 name, A9 main use, A16 height 9.3 m, A26 two storeys; EPSG:5186 -> lon/lat in Yuseong
    assert neuro[:6] == ("㈜뉴로메카", "교육연구시설", 9.3, 2.0, "대전광역시 유성구 장동", "A16")
    assert 127.35 < neuro[6] < 127.38 and 36.37 < neuro[7] < 36.40
    n_dj = session.execute(
        text("select count(*) from buildings where osm_type = :t and raw->>'A4' like '대전%'"),
        {"t": KR_TYPE},
    ).scalar_one()
    assert n_dj == 15
    again = load_buildings_any(session, path=KR_SHP, progress=False)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 936)


def test_korean_shapefile_without_prj_needs_a_crs(session: Session, tmp_path: Path) -> None:
    for ext in (".shp", ".shx", ".dbf", ".cst"):
        shutil.copy(KR_SHP.with_suffix(ext), tmp_path / f"b{ext}")
    with pytest.raises(LoadError) as e:
        load_building_file(session, path=tmp_path / "b.shp", progress=False)
    assert e.value.field == "crs"
    first = load_building_file(session, path=KR_SHP, progress=False)
    rep = load_building_file(session, path=tmp_path / "b.shp", crs="EPSG:5186", progress=False)
    assert first.inserted == 936 and (rep.inserted, rep.unchanged) == (0, 936)  # same buildings


# --------------------------------------------------------------------------- national standard


def test_national_standard_counts_by_district(session: Session) -> None:
    rows = dict(
        session.execute(
            text("""select agency, count(*) from cameras where source = 'kr-standard'
                    group by agency""")
        ).all()
    )
    # SOURCE.md: 중구 5,551, 대덕구 1,104, 동구 920, 서구 882, 유성구 580 rows. Not loaded: 990 대덕구
    # rows at the placeholder point, 2 중구 rows with the installation date '190507'.
    assert rows == {
        "대전광역시 중구청": 5551 - 2,
        "대전광역시 대덕구청": 1104 - 990,
        "대전광역시 동구청": 920,
        "대전광역시 서구청": 882,
        "유성구청": 580,
    }
    cams = session.execute(
        text("select sum(camera_count) from cameras where source = 'kr-standard'")
    ).scalar_one()
    assert cams == 14073  # 15,394 cameras in the file - 1,317 at the placeholder - 4 (2 rows)
    # nothing is drawn at the placeholder point
    at = session.execute(
        text("""select count(*) from cameras
                where st_dwithin(geom::geography, st_point(127.1, 36.1, 4326)::geography, 100)""")
    ).scalar_one()
    assert at == 0


def test_placeholders_are_named_in_the_report() -> None:
    rows, rep = parse_cameras(STANDARD)
    ph = [r for r in rep.rejects if r.reason.startswith("placeholder coordinate")]
    assert len(ph) == 990
    assert ph[0].reason == (
        "placeholder coordinate: 990 rows with 879 different addresses share 36.1, 127.1"
    )
    assert ph[0].field == "WGS84위도/WGS84경도" and ph[0].value.startswith(
        "36.1,127.1 대전광역시 대덕구"
    )
    said = " | ".join(rep.warnings)
    assert "9037 rows = 15394 cameras" in said and "990 rows = 1317 cameras" in said
    assert "all-round 1430, degrees 18, compass 0" in said
    assert "250 rows of 대전광역시 중구청" in said  # far from the district's others: kept, named


def test_directions_only_where_the_text_is_one(session: Session) -> None:
    # hand-checked texts of the real file
    assert kr_direction("360°") == (None, 360.0, "all-round")
    assert kr_direction("360도 전방면") == (None, 360.0, "all-round")
    assert kr_direction("45°") == (45.0, None, "degrees")
    assert kr_direction("서대전농협 뒷길") == (None, None, "text")  # 서 in a name is no direction
    assert kr_direction("남대전고 뒤 삼거리") == (None, None, "text")
    assert kr_direction("동양맨션앞") == (None, None, "text")
    assert kr_direction("좌우양방향") == (None, None, "text")
    assert kr_direction("반경 2~3m") == (None, None, "text")
    assert kr_direction("특정방면") == (None, None, "text")
    assert kr_direction("북동쪽 방향") == (45.0, None, "compass")
    assert kr_direction("서측") == (270.0, None, "compass")
    rows = session.execute(
        text("""select s.fields->'raw'->>'촬영방면정보', c.heading_deg, c.fov_deg, count(*)
                from cameras c join camera_sources s using (source, external_id)
                where c.source = 'kr-standard' and s.fields->'raw'->>'촬영방면정보'
                      in ('45°', '360°', '서대전농협 뒷길', '360도 전방면')
                group by 1, 2, 3 order by 1""")
    ).all()
    assert [tuple(r) for r in rows] == [
        ("360°", None, 360.0, 562),
        ("360도 전방면", None, 360.0, 868),
        ("45°", 45.0, None, 18),
        ("서대전농협 뒷길", None, None, 6),
    ]
    # 카메라화소수 in units of 10,000 px: 200 -> 2 MP
    res = session.execute(
        text("""select s.fields->'raw'->>'카메라화소수', c.resolution_px
                from cameras c join camera_sources s using (source, external_id)
                where c.source = 'kr-standard' and s.fields->'raw'->>'카메라화소수' in ('200', '400')
                group by 1, 2 order by 1""")
    ).all()
    assert [tuple(r) for r in res] == [("200", 2_000_000), ("400", 4_000_000)]


def test_standard_reload_changes_nothing(session: Session) -> None:
    rep = load_cameras(session, path=STANDARD)
    assert (rep.inserted, rep.updated, rep.unchanged, rep.rejected) == (0, 0, 8045, 992)


# --------------------------------------------------------------------------- merge candidates


def test_candidate_matches_across_sources_report_only(session: Session, tmp_path: Path) -> None:
    from geo.load.merge import (
        address_similarity,
        match_candidates,
        match_summary,
        road_key,
        write_match_report,
    )

    assert road_key("월평로 14(월평1동 1152 / 월평초교, 동소예 앞)") == "월평로14"
    assert road_key("대전광역시 서구 월평로14") == "월평로14"
    assert address_similarity("월평로 14(월평1동 1152)", "대전광역시 서구 월평로14") == 1.0
    before = session.execute(text("select count(*) from cameras")).scalar_one()
    pairs = match_candidates(session)
    summary = match_summary(pairs)
    assert summary["daejeon-2015 ~ kr-standard"]["likely"] > 300
    # 2015's '008.월평초교' (월평로 14) and the standard row at 대전광역시 서구 월평로14: one camera
    p = next(
        p
        for p in pairs
        if p["a_name"] == "008.월평초교"
        and p["b_source"] == "kr-standard"
        and p["decision"] == "likely"
    )
    assert p["same_road_address"] and p["distance_m"] < 1 and "mutual best match" in p["why"]
    # a camera is 'likely' with at most one camera of each other source
    likely = [(q["a_id"], q["b_source"]) for q in pairs if q["decision"] == "likely"]
    assert len(likely) == len(set(likely))
    out = write_match_report(pairs, tmp_path / "m.csv")
    import csv

    with open(out, encoding="utf-8-sig", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(pairs)
    # report only: nothing merged
    assert session.execute(text("select count(*) from cameras")).scalar_one() == before
    with pytest.raises(InvalidInput) as e:
        match_candidates(session, within_m=-1)
    assert e.value.field == "within_m"


def test_drive_route_and_track_between_daejeon_traffic_cameras(session: Session) -> None:
    """Two real traffic cameras of different districts, 4-6 km apart, on Daejeon's roads."""
    import datetime as dt

    import geo.routing as R

    a, b, d = session.execute(
        text("""select a.id, b.id, st_distance(a.geom::geography, b.geom::geography)
                from cameras a, cameras b
                where a.source = 'kr-traffic-api' and b.source = 'kr-traffic-api'
                  and a.agency = '유성구청' and b.agency = '서구청'
                  and st_distance(a.geom::geography, b.geom::geography) between 4000 and 6000
                order by a.id, b.id limit 1""")
    ).one()
    route = R.find_route(
        session, origin=R.Place(camera_id=a), destination=R.Place(camera_id=b), mode="drive"
    )
    assert d <= route["length_m"] < 2 * d
    assert route["cameras_along"] and all(
        c["expected_from"] <= c["expected_to"] for c in route["cameras_along"]
    )
    t0 = dt.datetime(2021, 6, 1, 8, 0, tzinfo=dt.UTC)
    tr = R.track(session, sightings=[(a, t0), (b, t0 + dt.timedelta(minutes=8))], mode="drive")
    hop = tr["hops"][0]
    assert tr["feasible"] and hop["length_m"] == pytest.approx(route["length_m"], rel=1e-6)
    assert hop["cameras_between"]
