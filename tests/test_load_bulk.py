"""The COPY path of a national standard file (geo/load/bulk.py) against the row-by-row loader.

Attacks: a fast path that loads different values than the row path, that rewrites rows on a
reload, that loses or mislabels a bad row, or that stumbles on files the fast reader cannot take.
The file is generated from the real Daejeon rows (benchmarks/gen_national.py, ~20k rows, known bad
rows); nothing here times anything.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from benchmarks.gen_national import generate
from geo.load.bulk import bulk_eligible, load_cameras_bulk
from geo.load.cameras import parse_cameras
from geo.load.common import LoadReport
from geo.load.standard import parse_standard, read_columns
from tests.bulk_helpers import STATE, empty_source

DATA = Path(__file__).resolve().parent.parent / "data"
REAL = DATA / "daejeon-cctv" / "national_standard_cctv_daejeon_2026_cp949.csv"
FIX = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def national(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return generate(20_000, out=tmp_path_factory.mktemp("national") / "national_20k.csv")


def _db_rows(session: Session, ids: list[str]) -> dict[str, dict[str, Any]]:
    rows = session.execute(
        text("""select c.external_id, c.name, c.purpose, c.agency, c.address, st_x(c.geom) as x,
                       st_y(c.geom) as y, c.heading_deg, c.fov_deg, c.range_m, c.tilt_deg,
                       c.camera_type, c.camera_count, c.resolution_px, c.ptz, c.stream_url,
                       c.status, c.retention_days, c.installed_on, s.fields->'raw' as raw
                from cameras c join camera_sources s using (source, external_id)
                where c.source = 'kr-standard' and c.external_id = any(:ids)"""),
        {"ids": ids},
    ).mappings()
    return {r["external_id"]: dict(r) for r in rows}


def _as_row_path(r: dict[str, Any]) -> dict[str, Any]:
    """A parsed row of the row path as the database stores it (geometry as x, y doubles)."""
    x, y = r["geom"].removeprefix("POINT(").removesuffix(")").split()
    out = {k: v for k, v in r.items() if k not in ("geom", "source")}
    return {**out, "x": float(x), "y": float(y)}


def test_real_file_through_copy_changes_nothing_the_row_path_loaded(session: Session) -> None:
    # the sample load put the real standard file in through the row path (records in
    # camera_sources, merged with the 2015 inventory where likely); the COPY path rewrites any
    # camera or record whose value differs, so nothing rewritten = the same values
    snap = text(
        """select (select md5(string_agg(id || ':' || xmin::text, ',' order by id))
                   from cameras where source = 'kr-standard'),
                  (select md5(string_agg(id || ':' || xmin::text, ',' order by id))
                   from camera_sources where source = 'kr-standard'),
                  (select count(*) from camera_sources where source = 'kr-standard')"""
    )
    # streams come from the video system, never from the file: a reload keeps them
    session.execute(
        text("""update cameras set stream_url = 'rtsp://10.20.30.40/' || id
                where id in (select id from cameras where source = 'kr-standard'
                             order by id limit 40)""")
    )
    before = session.execute(snap).one()
    rep = load_cameras_bulk(session, path=REAL)
    assert (rep.inserted, rep.updated, rep.unchanged) == (0, 0, 8045)
    _, row_rep = parse_cameras(REAL)
    assert rep.rejects == row_rep.rejects
    assert rep.warnings[: len(row_rep.warnings)] == row_rep.warnings
    assert session.execute(snap).one() == before  # not one camera or record rewritten
    assert before[2] == 8045


def test_generated_file_loads_the_rows_the_row_path_would(
    session: Session, national: tuple[Path, dict[str, Any]]
) -> None:
    path, expected = national
    want, want_rep = parse_cameras(path)
    rep = load_cameras_bulk(session, path=path, refresh_views=False)
    assert rep.rows_read == want_rep.rows_read == expected["rows_read"] == 20_000
    assert rep.inserted == len(want) == expected["cameras"]
    assert (rep.updated, rep.unchanged) == (0, 0)
    got = _db_rows(session, [r["external_id"] for r in want])
    assert len(got) == len(want)
    for r in want:
        assert got[r["external_id"]] == _as_row_path(r), r["external_id"]


def test_every_bad_row_is_reported_with_line_reason_field_and_value(
    session: Session, national: tuple[Path, dict[str, Any]]
) -> None:
    path, expected = national
    rep = load_cameras_bulk(session, path=path, refresh_views=False)
    _, want_rep = parse_cameras(path)
    assert rep.rejects == want_rep.rejects  # line, reason, field, value, in file order
    # suspects, exact repeats, counts
    assert rep.warnings[: len(want_rep.warnings)] == want_rep.warnings
    assert {str(r.row): r.reason for r in rep.rejects}.keys() == expected["bad_lines"].keys()
    for r in rep.rejects:
        assert r.reason.startswith(expected["bad_lines"][str(r.row)])
    assert sum(w.endswith("exactly; loaded once") for w in rep.warnings) == expected["repeats"]
    # the reject report on disk and the data_loads row say the same
    assert rep.report_path is not None
    with open(rep.report_path, encoding="utf-8") as f:
        lines = [int(row["row"]) for row in csv.DictReader(f)]
    assert lines == [r.row for r in rep.rejects]
    stored = session.execute(
        text("select rejected, rejects from data_loads where id = :i"), {"i": rep.load_id}
    ).one()
    assert stored.rejected == expected["rejected"]
    assert [r["row"] for r in stored.rejects] == [r.row for r in rep.rejects]


def test_reload_is_idempotent_and_a_changed_row_is_updated_with_its_view(
    session: Session, national: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, expected = national
    first = load_cameras_bulk(session, path=path, refresh_views=False)
    snap = text(
        "select count(*), md5(string_agg(id || ':' || xmin::text, ',' order by id)) from cameras"
    )
    before = session.execute(snap).one()
    again = load_cameras_bulk(session, path=path, refresh_views=False)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, first.inserted)
    assert again.rejects == first.rejects
    assert session.execute(snap).one() == before  # no row rewritten, none added

    # one camera's count changes in a new release of the file: exactly that row is updated,
    # and its field of view recomputed
    body = path.read_bytes().decode("cp949").split("\r\n")
    header = next(csv.reader([body[0]]))
    at = 10  # a clean early row
    assert str(at + 1) not in expected["bad_lines"]
    row = next(csv.reader([body[at]]))
    assert len(row) == len(header)
    row[header.index("카메라대수")] = "7"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(row)
    body[at] = buf.getvalue()
    changed = tmp_path / "national_20k_v2.csv"
    changed.write_bytes("\r\n".join(body).encode("cp949"))
    upd = load_cameras_bulk(session, path=changed, refresh_views=True)
    assert (upd.inserted, upd.updated) == (0, 1)
    ext = f"{row[header.index('관리기관명')]}:{row[header.index('관리번호')]}"
    cam = session.execute(
        text("""select c.camera_count, v.camera_id is not null as has_view from cameras c
                left join camera_views v on v.camera_id = c.id
                where c.source = 'kr-standard' and c.external_id = :e"""),
        {"e": ext},
    ).one()
    assert cam.camera_count == 7 and cam.has_view


@pytest.mark.parametrize("name", ["cctv_standard_new_utf8bom.csv", "cctv_standard_old_cp949.csv"])
def test_other_layouts_parse_as_the_row_path_does(name: str) -> None:
    path = FIX / name
    assert bulk_eligible(path)
    want, want_rep = parse_cameras(path)
    cols = read_columns(path)
    rep = LoadReport(kind="cameras", fmt="kr-standard", path=str(path))
    rows, keep = parse_standard(cols, rep)
    assert rep.rejects == want_rep.rejects and rep.warnings == want_rep.warnings
    assert rows["external_id"].tolist() == [r["external_id"] for r in want]
    assert rows["geom"].tolist() == [r["geom"] for r in want]


def test_ragged_rows_blank_lines_and_quoted_breaks_keep_their_line_numbers(
    tmp_path: Path,
) -> None:
    # a row with one field too many (pandas refuses it: the row path's reader takes over),
    # blank lines, a quoted line break and padded values; the reject must name the file line
    src = REAL.read_bytes().decode("cp949").splitlines()
    header = next(csv.reader([src[0]]))
    good = [next(csv.reader([line])) for line in src[1:6]]
    good[1][header.index("소재지지번주소")] = "줄\n바꿈 주소"
    good[2][header.index("설치연월")] = "  언젠가  "
    out = [",".join(header)]
    for i, r in enumerate(good):
        out.append(",".join(f'"{v}"' for v in r))
        if i == 0:
            out.append("")
    for ragged in (False, True):
        lines = [*out, ",".join(good[4][:1] + [""] * (len(header) - 1 + ragged))]
        p = tmp_path / f"odd_{ragged}.csv"
        p.write_bytes("\r\n".join(lines).encode("cp949"))
        want, want_rep = parse_cameras(p)
        rep = LoadReport(kind="cameras", fmt="kr-standard", path=str(p))
        rows, _ = parse_standard(read_columns(p), rep)
        assert rep.rejects == want_rep.rejects and rep.rows_read == want_rep.rows_read
        assert rows["external_id"].tolist() == [r["external_id"] for r in want]
        date = next(r for r in rep.rejects if r.reason == "unparseable installation date")
        # header 1, first row 2, blank 3, the row with a break 4-5, then this one
        assert date.row == 6 and date.value == "언젠가"


def test_expected_report_of_the_generator_is_consistent(
    national: tuple[Path, dict[str, Any]],
) -> None:
    path, expected = national
    stored = json.loads(path.with_suffix(".expected.json").read_text())
    assert stored == expected
    assert sum(expected["rejects"].values()) == expected["rejected"] == 39


def test_records_hold_the_fields_the_row_path_stores(
    session: Session, national: tuple[Path, dict[str, Any]]
) -> None:
    # the COPY path takes a record's fields from its freshly written camera row: they must be
    # exactly geo.load.unify.source_record of the row path's parsed row, raw included
    from geo.load.unify import source_record

    path, _ = national
    want, _ = parse_cameras(path)
    load_cameras_bulk(session, path=path, refresh_views=False)
    stored = {
        r.external_id: (r.fields, r.coord_decimals, r.own)
        for r in session.execute(
            text("""select s.external_id, s.fields, s.coord_decimals,
                           s.camera_id = c.id as own
                    from camera_sources s
                    join cameras c on c.source = s.source and c.external_id = s.external_id
                    where s.source = 'kr-standard' and s.external_id = any(:ids)"""),
            {"ids": [r["external_id"] for r in want]},
        )
    }
    assert len(stored) == len(want)
    for r in want:
        rec = source_record(r)
        assert stored[r["external_id"]] == (rec["fields"], rec["coord_decimals"], True)


def test_a_reload_is_skipped_only_when_the_last_load_was_this_file_and_nothing_is_missing(
    session: Session, national: tuple[Path, dict[str, Any]]
) -> None:
    path, _ = national
    first = load_cameras_bulk(session, path=path, refresh_views=False)
    again = load_cameras_bulk(session, path=path, refresh_views=False)
    skipped = "the same file (SHA-256) as the last camera load"
    assert any(w.startswith(skipped) for w in again.warnings)
    assert again.rejects == first.rejects and again.rows_read == first.rows_read
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, first.inserted)
    # a record lost since that load: the file is loaded again, not skipped, and the record is back
    ext = parse_cameras(path)[0][0]["external_id"]
    session.execute(
        text("delete from camera_sources where source = 'kr-standard' and external_id = :e"),
        {"e": ext},
    )
    third = load_cameras_bulk(session, path=path, refresh_views=False)
    assert not any(w.startswith(skipped) for w in third.warnings)
    assert third.rejects == first.rejects
    back = session.execute(
        text("""select count(*) from camera_sources s join cameras c on c.id = s.camera_id
                where s.source = 'kr-standard' and s.external_id = :e
                  and c.external_id = :e"""),
        {"e": ext},
    ).scalar_one()
    assert back == 1
    # another camera load in between: a camera edited since is put back by the row comparison
    session.execute(
        text("""update cameras set camera_count = camera_count + 5
                where source = 'kr-standard' and external_id = :e"""),
        {"e": ext},
    )
    load_cameras_bulk(session, path=REAL, refresh_views=False)
    fourth = load_cameras_bulk(session, path=path, refresh_views=False)
    assert not any(w.startswith(skipped) for w in fourth.warnings)
    assert (fourth.inserted, fourth.updated) == (0, 1)


@pytest.mark.parametrize("two_cores", [False, True])
def test_a_first_load_inserts_what_the_upsert_would_and_puts_indexes_and_keys_back(
    session: Session,
    national: tuple[Path, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    two_cores: bool,
) -> None:
    # no camera or record of the source stored: plain inserts (ids taken while copying), the
    # secondary indexes and the records' foreign key dropped and built again (forced here at
    # 20k rows); the rows, records and bad-row report must be the row path's, and a reload
    # through the upsert must find nothing to change; on one connection or (``two_cores``)
    # with the records built on a second one
    from geo.load import bulk
    from geo.load.unify import source_record

    empty_source(session)
    schema = text(
        """select (select array_agg(indexdef order by indexname) from pg_indexes
                   where tablename in ('cameras', 'camera_sources')),
                  (select array_agg(pg_get_constraintdef(oid) order by conname)
                   from pg_constraint where conrelid = 'camera_sources'::regclass)"""
    )
    before = session.execute(schema).one()
    monkeypatch.setattr(bulk, "REINDEX_MIN_NEW", 1)
    monkeypatch.setattr(bulk, "PARALLEL_MIN_ROWS", 1 if two_cores else 10**12)
    path, expected = national
    want, want_rep = parse_cameras(path)
    tm: dict[str, float] = {}
    rep = load_cameras_bulk(session, path=path, refresh_views=False, timings=tm)
    assert "stage_index_s" not in tm and "rebuild_s" in tm  # the insert path, indexes rebuilt
    assert ("records_side_s" in tm) == two_cores
    assert session.execute(schema).one() == before
    assert (rep.inserted, rep.updated, rep.unchanged) == (len(want), 0, 0)
    assert rep.rejects == want_rep.rejects and len(rep.rejects) == expected["rejected"]
    assert rep.warnings[: len(want_rep.warnings)] == want_rep.warnings
    got = _db_rows(session, [r["external_id"] for r in want])
    assert all(got[r["external_id"]] == _as_row_path(r) for r in want)
    stored = {
        r.external_id: (r.fields, r.coord_decimals, r.own)
        for r in session.execute(
            text("""select s.external_id, s.fields, s.coord_decimals,
                           s.camera_id = c.id as own
                    from camera_sources s
                    join cameras c on c.source = s.source and c.external_id = s.external_id
                    where s.source = 'kr-standard'""")
        )
    }
    assert stored == {
        r["external_id"]: (source_record(r)["fields"], source_record(r)["coord_decimals"], True)
        for r in want
    }
    session.execute(text("delete from data_loads where id = :i"), {"i": rep.load_id})
    again = load_cameras_bulk(session, path=path, refresh_views=False, timings=tm)
    assert "stage_index_s" in tm  # not skipped (that load is gone): the row comparison ran
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(want))
    assert again.rejects == rep.rejects


@pytest.mark.parametrize("fails", ["second connection", "this transaction"])
def test_a_two_core_first_load_that_fails_on_either_connection_leaves_nothing(
    session: Session,
    national: tuple[Path, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    fails: str,
) -> None:
    # the first load builds the records on a second connection while this transaction inserts
    # the cameras: a failure on either side (the second connection before it builds anything,
    # or this transaction after both tables are written) must leave cameras, records, indexes
    # and keys as they were, and no scratch table behind
    from geo.load import bulk, bulk_parallel

    empty_source(session)
    before = session.execute(STATE).one()  # (scratch tables of a rolled-back test may be left)
    monkeypatch.setattr(bulk, "REINDEX_MIN_NEW", 1)
    monkeypatch.setattr(bulk, "PARALLEL_MIN_ROWS", 1)
    run = bulk._exec

    def fail_after_records(
        cur: Any, tm: dict[str, float], key: str, sql: str, p: Any = None
    ) -> None:
        run(cur, tm, key, sql, p)
        if key == "records_s":  # both tables written in this transaction: now it fails
            cur.execute("select 1 / 0")

    def fail_side() -> None:
        raise RuntimeError("injected failure on the second connection")

    if fails == "second connection":
        monkeypatch.setattr(bulk_parallel, "_side_hook", fail_side)
    else:
        monkeypatch.setattr(bulk, "_exec", fail_after_records)
    with pytest.raises(Exception, match="injected|division by zero"):
        load_cameras_bulk(session, path=national[0], refresh_views=False)
    after = session.execute(STATE).one()
    assert after[:-1] == before[:-1] and after[-1] == 0  # and leftovers swept


def test_a_national_file_after_the_city_file_inserts_and_puts_keys_back(
    session: Session, national: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the city's standard file is stored (the sample), then the national file: most rows new,
    # so the upsert path inserts them plainly with the secondary indexes and the records'
    # foreign key dropped and put back (forced here at 20k rows); every new row gets its camera
    # and its record pointing at it, the stored ones are left as they were
    from geo.load import bulk

    monkeypatch.setattr(bulk, "REINDEX_MIN_NEW", 1)
    monkeypatch.setattr(bulk, "PARALLEL_MIN_ROWS", 10**9)
    path, expected = national
    before = session.execute(STATE).one()
    stored = session.execute(
        text("select count(*) from cameras where source = 'kr-standard'")
    ).scalar_one()
    assert stored > 8000
    tm: dict[str, float] = {}
    rep = load_cameras_bulk(session, path=path, refresh_views=False, timings=tm)
    assert "stage_index_s" in tm  # the upsert path, not a first load
    want, _ = parse_standard(read_columns(path), LoadReport("cameras", "kr-standard", str(path)))
    assert rep.inserted == len(want) and rep.updated == 0
    after = session.execute(STATE).one()
    assert after[2:] == before[2:]  # the same indexes and constraints, no scratch table
    assert after[0] - before[0] == after[1] - before[1] == len(want)
    orphans = session.execute(
        text("""select count(*) from camera_sources r left join cameras c on c.id = r.camera_id
                where r.source = 'kr-standard'
                  and (c.id is null or c.external_id <> r.external_id)""")
    ).scalar_one()
    assert orphans == 0
