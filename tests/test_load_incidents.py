"""Incident loaders: the EPSG:5179 Yuseong file, generic CSV with lat/lon or x/y + CRS."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.load.incidents import load_incidents, parse_incidents

DATA = Path(__file__).resolve().parent.parent / "data" / "daejeon-incidents"
RAW = DATA / "traffic_accidents_yuseong_2017_2021.csv"


def test_5179_swapped_labels_conversion_spot_check(session: Session) -> None:
    # Accident 1: 위도=984157 (really X), 경도=1819127 (really Y) in EPSG:5179. Hand-computed with
    # pyproj (5179 -> 4326, always_xy): lon 127.3233886, lat 36.3694537 (see SOURCE.md, wgs84 copy).
    row = (
        session.execute(
            text("""
        select st_x(geom) lon, st_y(geom) lat, occurred_at, kind, status
        from incidents where source = 'kr-accidents' and external_id = '1'""")
        )
        .mappings()
        .one()
    )
    assert abs(row["lon"] - 127.3233886) < 1e-6
    assert abs(row["lat"] - 36.3694537) < 1e-6
    assert row["occurred_at"].isoformat() == "2017-01-01T08:00:00+00:00"  # 17:00 KST
    assert row["kind"] == "traffic" and row["status"] == "closed"


def test_all_accidents_loaded_and_outliers_flagged_not_dropped(session: Session) -> None:
    n = session.execute(
        text("select count(*) from incidents where source='kr-accidents'")
    ).scalar_one()
    assert n == 9579
    flagged = (
        session.execute(
            text("""select external_id from incidents
        where source='kr-accidents' and raw ? 'suspect_location' order by external_id""")
        )
        .scalars()
        .all()
    )
    assert flagged == ["1390", "464"]  # Seoul City Hall default and one 59 km away (SOURCE.md)


def test_converted_points_match_the_published_wgs84_copy() -> None:
    rows, _ = parse_incidents(RAW)
    ref, _ = parse_incidents(DATA / "traffic_accidents_yuseong_2017_2021_wgs84.csv")
    a = {r["external_id"]: r["geom"] for r in rows}
    b = {r["external_id"]: r["geom"] for r in ref}
    worst = 0.0
    for k, g in a.items():
        x1, y1 = map(float, g[6:-1].split())
        x2, y2 = map(float, b[k][6:-1].split())
        worst = max(worst, abs(x1 - x2), abs(y1 - y2))
    assert worst < 1e-6


def test_reload_is_idempotent(session: Session) -> None:
    rep = load_incidents(session, path=RAW)
    assert (rep.inserted, rep.updated, rep.unchanged, rep.rejected) == (0, 0, 9579, 0)


def test_generic_csv_rejects_bad_rows_with_reasons(session: Session, tmp_path: Path) -> None:
    f = tmp_path / "calls.csv"
    f.write_text(
        "id,lat,lon,occurred_at,kind,priority\n"
        "a,36.3620,127.3440,2024-05-01 14:02,police,1\n"
        "b,0,0,2024-05-01 14:03,police,1\n"
        "c,36.3620,127.3440,yesterday,police,1\n"
        "d,,127.3440,2024-05-01 14:05,fire,2\n"
        "e,36.3620,127.3440,2024-05-01T14:06:00+09:00,alien,1\n"
        "f,136.1,127.3440,2024-05-01 14:07,sos,1\n",
        encoding="utf-8",
    )
    rep = load_incidents(session, path=f)
    assert rep.inserted == 1 and rep.rejected == 5
    reasons = {r.row: (r.reason, r.field) for r in rep.rejects}
    assert reasons[3][0].startswith("zero coordinates")
    assert reasons[4] == ("unparseable date", "occurred_at")
    assert reasons[5][0] == "missing coordinates"
    assert reasons[6][1] == "kind"
    assert reasons[7][0].startswith("coordinates out of range")
    t = session.execute(
        text("select occurred_at from incidents where source = 'file:calls'")
    ).scalar_one()
    assert t.isoformat() == "2024-05-01T05:02:00+00:00"  # naive times are Asia/Seoul by default


def test_generic_xy_with_crs(session: Session, tmp_path: Path) -> None:
    f = tmp_path / "xy.csv"
    f.write_text("id,x,y,time\nq1,984157,1819127,2021-03-01 09:00\n", encoding="cp949")
    rep = load_incidents(session, path=f, crs="EPSG:5179", kind="police")
    assert rep.inserted == 1
    lon, lat = session.execute(
        text("select st_x(geom), st_y(geom) from incidents where source='file:xy'")
    ).one()
    assert abs(lon - 127.3233886) < 1e-6 and abs(lat - 36.3694537) < 1e-6
    with pytest.raises(InvalidInput) as e:
        load_incidents(session, path=f, crs="EPSG:999999")
    assert e.value.field == "crs"
