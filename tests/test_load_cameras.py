"""Camera loaders on the real files: encodings, layouts, rejects, idempotence, atomicity."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput, LoadError
from geo.load.cameras import load_cameras, osm_direction, parse_cameras

DATA = Path(__file__).resolve().parent.parent / "data"
FIX = Path(__file__).resolve().parent / "fixtures"
CP949 = DATA / "daejeon-cctv" / "cctv_daejeon_2015_cp949.csv"


def test_cp949_original_is_read_as_is_and_matches_utf8_copy() -> None:
    rows_cp, rep_cp = parse_cameras(CP949)
    rows_u8, rep_u8 = parse_cameras(DATA / "daejeon-cctv" / "cctv_daejeon_2015_utf8.csv")
    assert rep_cp.encoding == "cp949" and rep_u8.encoding == "utf-8"
    assert rep_cp.rows_read == 5624 and rep_u8.rows_read == 5624
    assert rows_cp == rows_u8
    first = next(r for r in rows_cp if r["external_id"] == "30200CTVPOC477939623")
    assert first["name"] == "047.자립지원센터 앞"
    assert first["purpose"] == "crime_prevention"
    assert first["geom"] == "POINT(127.42512520 36.32575560)"


def test_daejeon_rejects_are_counted_with_reasons() -> None:
    rows, rep = parse_cameras(CP949)
    reasons = rep.reasons()
    # SOURCE.md: 2,328 rows with lat/lon = 0 (2,299 of them camera types), one lon typo 172.39
    assert reasons["zero coordinates (no location recorded)"] == 2299
    assert reasons["coordinates outside Korea"] == 1
    assert reasons["not a camera"] == 1407  # bus terminals, road-side units, message signs, ...
    assert len(rows) + rep.rejected == rep.rows_read
    typo = next(r for r in rep.rejects if r.reason.startswith("coordinates outside Korea"))
    assert "172.39" in typo.reason
    assert all(r.row >= 2 for r in rep.rejects)  # file line numbers, header is line 1
    # dome cameras are PTZ, fixed ones are not
    dome = [r for r in rows if r["camera_type"] == "dome"]
    assert dome and all(r["ptz"] for r in dome)


def test_clean_file_loads_the_same_cameras(session: Session) -> None:
    rep = load_cameras(session, path=DATA / "daejeon-cctv" / "cctv_daejeon_2015_clean.csv")
    # the sample load already holds the original: the clean copy changes nothing
    assert rep.inserted == 0 and rep.updated == 0 and rep.unchanged == 1914


def test_reload_same_file_changes_nothing(session: Session) -> None:
    before = session.execute(text("select max(updated_at), count(*) from cameras")).one()
    rep = load_cameras(session, path=CP949)
    assert (rep.inserted, rep.updated, rep.unchanged) == (0, 0, 1917)
    after = session.execute(text("select max(updated_at), count(*) from cameras")).one()
    assert before == after


@pytest.mark.parametrize(
    "name",
    ["cctv_standard_old_cp949.csv", "cctv_standard_new_utf8bom.csv", "cctv_standard_new.xlsx"],
)
def test_kr_standard_layouts_and_encodings(session: Session, name: str) -> None:
    # the sample holds Daejeon's national standard file too: look only at the rows loaded here
    # (through their source records: the first row is the traffic list's 대성삼거리 camera, so
    # it merges into that camera's row, one camera, one row)
    before = session.execute(text("select coalesce(max(id), 0) from camera_sources")).scalar_one()
    rep = load_cameras(session, path=FIX / name)
    assert rep.fmt == "kr-standard"
    assert rep.inserted == 8
    row = (
        session.execute(
            text("""
        select purpose, camera_count, heading_deg, retention_days, resolution_px, agency,
               st_y(c.geom) lat, st_x(c.geom) lon, installed_on
        from cameras c join camera_sources s on s.camera_id = c.id
        where s.source = 'kr-standard' and s.id > :before order by s.id limit 1"""),
            {"before": before},
        )
        .mappings()
        .one()
    )
    assert row["purpose"] == "traffic" and row["heading_deg"] == 90.0  # 교통단속, 동측
    assert row["retention_days"] == 30 and row["resolution_px"] == 2_000_000
    assert row["agency"] == "대전광역시 동구청"
    assert abs(row["lat"] - 36.2959681) < 1e-7 and abs(row["lon"] - 127.4604078) < 1e-7
    again = load_cameras(session, path=FIX / name)
    assert again.inserted == 0 and again.updated == 0 and again.unchanged == 8


def test_kr_standard_reject_report(session: Session) -> None:
    rep = load_cameras(session, path=FIX / "cctv_standard_old_cp949.csv")
    assert rep.encoding == "cp949"
    assert rep.rejected == 4
    by_row = {r.row: r for r in rep.rejects}
    assert by_row[10].reason.startswith("zero coordinates")
    assert by_row[11].reason == "unparseable installation date" and by_row[11].field == "설치연월"
    assert by_row[12].reason == "missing coordinates"
    assert by_row[13].reason.startswith("coordinates out of range")
    assert rep.report_path and Path(rep.report_path).exists()
    with open(rep.report_path, encoding="utf-8") as f:
        lines = list(csv.DictReader(f))
    assert [int(x["row"]) for x in lines] == [10, 11, 12, 13]
    logged = session.execute(
        text("select rejected, rows_read from data_loads where id = :i"), {"i": rep.load_id}
    ).one()
    assert tuple(logged) == (4, 12)


def test_osm_cameras_from_pbf_and_geojson_agree(session: Session) -> None:
    rows_pbf, rep = parse_cameras(DATA / "helsinki-osm" / "helsinki_center.osm.pbf")
    rows_gj, _ = parse_cameras(DATA / "helsinki-osm" / "helsinki_surveillance_cameras.geojson")
    assert rep.fmt == "osm" and len(rows_pbf) == 221
    assert {r["external_id"] for r in rows_pbf} == {r["external_id"] for r in rows_gj}
    dome = [r for r in rows_pbf if r["camera_type"] == "dome"]
    assert len(dome) == 6 and all(r["ptz"] for r in dome)
    n = session.execute(text("select count(*) from cameras where source = 'osm'")).scalar_one()
    assert n == 221


def test_osm_direction_mapping() -> None:
    assert osm_direction("135") == 135.0
    assert osm_direction("NE") == 45.0
    assert osm_direction("370") == 10.0
    assert osm_direction("45;90") == 45.0
    assert osm_direction("up") is None


def test_camera_views_exist_for_loaded_cameras(session: Session) -> None:
    missing = session.execute(
        text(
            "select count(*) from cameras c left join camera_views v on v.camera_id = c.id "
            "where v.camera_id is null"
        )
    ).scalar_one()
    assert missing == 0


def test_failed_load_leaves_database_unchanged(fresh_engine: Engine, monkeypatch) -> None:
    import geo.load.cameras as mod

    def boom(*a, **k):  # the process dies after the rows were written, before commit
        raise RuntimeError("killed mid-load")

    def count() -> int:
        with Session(fresh_engine) as s:
            return int(
                s.execute(
                    text("select count(*) from cameras where source = 'kr-standard'")
                ).scalar_one()
            )

    before = count()  # the sample's national standard file
    monkeypatch.setattr(mod, "record_load", boom)
    with Session(fresh_engine) as s, pytest.raises(RuntimeError), s.begin():
        load_cameras(s, path=FIX / "cctv_standard_new_utf8bom.csv")
    assert count() == before


def test_unknown_layout_and_format_are_clear_errors(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(LoadError, match="cannot tell the camera layout"):
        parse_cameras(f)
    with pytest.raises(InvalidInput) as e:
        parse_cameras(f, fmt="nope")
    assert e.value.field == "format"


def test_a_forced_format_that_is_not_the_files_is_a_clear_error(tmp_path: Path) -> None:
    # --format daejeon-2015 on the national standard file, --format osm on a CSV: a LoadError
    # naming the field (the CLI prints it), never a KeyError or osmium's RuntimeError
    standard = DATA / "daejeon-cctv" / "national_standard_cctv_daejeon_2026_cp949.csv"
    with pytest.raises(LoadError, match="is not a daejeon-2015 file: its header lacks") as e:
        parse_cameras(standard, fmt="daejeon-2015")
    assert e.value.field == "format"
    with pytest.raises(LoadError, match="not a kr-traffic-api file") as e:
        parse_cameras(CP949, fmt="kr-traffic-api")
    f = tmp_path / "x.csv"
    f.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(LoadError, match="cannot read x.csv as OSM data") as e:
        parse_cameras(f, fmt="osm")
    assert e.value.field == "file"
