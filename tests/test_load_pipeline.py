"""The pipelined first load of a national file (geo/load/bulk_pipeline.py) against the row path.

Attacks: a chunked reader that shifts a line number or a value at a chunk's edge; a row-by-row
check that lets through what a whole-file rule (placeholder block, duplicate id) refuses, or
refuses the later twin of a row that rule threw out; a failure on the reading thread or in the
transaction that leaves rows, dropped indexes or scratch tables behind; a row pandas refuses
after chunks were already written. Small chunks (3,000 rows) make every rule cross chunks.
Nothing here times anything.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from benchmarks.gen_national import generate
from geo.load.bulk import load_cameras_bulk
from geo.load.cameras import parse_cameras
from geo.load.common import LoadReport
from geo.load.standard import (
    concat_derived,
    derive_standard,
    finish_standard,
    parse_standard,
    read_columns,
)
from geo.load.standard_chunks import concat_columns, iter_columns
from tests.bulk_helpers import STATE, empty_source

CHUNK = 3_000


@pytest.fixture(scope="module")
def national(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The generated 20k file plus, at its end, a later twin (same agency and 관리번호, a good
    position) of the first row of the placeholder block: the row path refuses the block and
    loads the twin, so the pipeline, which inserted the block's row before it knew, must swap."""
    path, expected = generate(20_000, out=tmp_path_factory.mktemp("pipe") / "national_20k.csv")
    src = path.read_bytes().decode("cp949")
    reader = csv.reader(io.StringIO(src, newline=""))
    rows, starts, line = [], [], 1
    for r in reader:
        rows.append(r)
        starts.append(line)
        line = reader.line_num + 1
    header = rows[0]
    block = min(int(n) for n, why in expected["bad_lines"].items() if why.startswith("placeh"))
    twin = list(rows[starts.index(block)])
    good = rows[1]
    for col in ("WGS84위도", "WGS84경도"):
        twin[header.index(col)] = good[header.index(col)]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows([*rows, twin])
    twin_path = path.with_name("national_20k_twin.csv")
    twin_path.write_bytes(out.getvalue().encode("cp949"))
    return twin_path, {**expected, "twin_line": line}


def _pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    from geo.load import bulk, bulk_pipeline

    monkeypatch.setattr(bulk_pipeline, "PIPELINE_MIN_BYTES", 0)
    monkeypatch.setattr(bulk_pipeline, "CHUNK_ROWS", CHUNK)
    monkeypatch.setattr(bulk, "REINDEX_MIN_NEW", 1)


@pytest.mark.parametrize("encoding", ["cp949", "utf-8-sig"])
def test_chunks_are_the_whole_file_and_their_rules_the_whole_files(
    national: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    encoding: str,
) -> None:
    # quoted line breaks, padded values and blank lines on chunk edges (chunks of 2 rows), the
    # bytes decoded in pieces of 64 kB (so pieces end mid-row for pandas)
    from geo.load import standard_chunks

    monkeypatch.setattr(standard_chunks, "PIECE_BYTES", 1 << 16)
    path, _ = national
    if encoding != "cp949":
        recoded = tmp_path / "utf8.csv"
        recoded.write_bytes(path.read_bytes().decode("cp949").encode(encoding))
        path = recoded
    src = national[0].read_bytes().decode("cp949").split("\r\n")[:40]
    header = next(csv.reader([src[0]]))
    rows = [next(csv.reader([line])) for line in src[1:] if line]
    rows[2][header.index("소재지지번주소")] = "줄\n바꿈\n주소"
    rows[5][header.index("설치연월")] = "  언젠가  "
    lines = [",".join(header)]
    for i, r in enumerate(rows):
        lines.append(",".join(f'"{v}"' for v in r))
        if i % 7 == 3:
            lines.append("")
    odd = tmp_path / "odd.csv"
    odd.write_bytes("\r\n".join(lines).encode(encoding))
    for p, size in ((path, CHUNK), (odd, 2)):
        whole = read_columns(p)
        got = iter_columns(p, chunk_rows=size)
        assert got is not None
        parts = list(got[3])
        assert len(parts) > 1
        t = concat_columns(parts)
        assert (t.header, t.encoding) == (whole.header, whole.encoding)
        assert t.lines.tolist() == whole.lines.tolist()
        assert {h: c.tolist() for h, c in t.cols.items()} == {
            h: c.tolist() for h, c in whole.cols.items()
        }
        want_rep = LoadReport(kind="cameras", fmt="kr-standard", path=str(p))
        want, want_keep = parse_standard(whole, want_rep)
        rep = LoadReport(kind="cameras", fmt="kr-standard", path=str(p))
        rows_df, keep = finish_standard(t, concat_derived([derive_standard(c) for c in parts]), rep)
        assert rep.rejects == want_rep.rejects and rep.warnings == want_rep.warnings
        assert np.array_equal(keep, want_keep)
        assert rows_df.equals(want)
    # what the serial reader decides otherwise, found in a late piece: not streamable
    from geo.load.standard_chunks import NotStreamable

    data = path.read_bytes()
    for bad in (b"\r1,2\r\n", "\ud55c".encode("utf-16-le") * 3 + b"\r\n"):
        late = tmp_path / "late.csv"
        late.write_bytes(data + bad)
        got = iter_columns(late, chunk_rows=CHUNK)
        assert got is not None
        with pytest.raises(NotStreamable):
            list(got[3])


def test_a_pipelined_first_load_is_the_row_paths_and_a_reload_changes_nothing(
    session: Session, national: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from geo.load.unify import source_record

    empty_source(session)
    before = session.execute(STATE).one()
    _pipeline(monkeypatch)
    path, expected = national
    want, want_rep = parse_cameras(path)
    assert any(r["external_id"] for r in want)  # (the twin is loaded, its placeholder is not)
    tm: dict[str, float] = {}
    rep = load_cameras_bulk(session, path=path, refresh_views=False, timings=tm)
    assert {"fixup_s", "rebuild_s", "cameras_s", "records_s"} <= tm.keys()
    assert "stage_index_s" not in tm  # (the serial path's statement)
    assert (rep.inserted, rep.updated, rep.unchanged) == (len(want), 0, 0)
    assert rep.rows_read == want_rep.rows_read
    assert rep.rejects == want_rep.rejects and len(rep.rejects) == expected["rejected"]
    assert rep.warnings[: len(want_rep.warnings)] == want_rep.warnings
    after = session.execute(STATE).one()
    assert after[2:4] == before[2:4] and after[4] == 0  # indexes, keys back; no scratch table
    got = {
        r.external_id: r
        for r in session.execute(
            text("""select c.external_id, c.name, c.purpose, c.agency, c.address, st_x(c.geom) x,
                           st_y(c.geom) y, c.heading_deg, c.fov_deg, c.camera_count,
                           c.resolution_px, c.retention_days, c.installed_on,
                           s.fields->'raw' as raw,
                           s.fields, s.coord_decimals, s.camera_id = c.id as own
                    from cameras c
                    join camera_sources s on s.source = c.source and s.external_id = c.external_id
                    where c.source = 'kr-standard'""")
        )
    }
    assert len(got) == len(want) == after[0] - before[0] == after[1] - before[1]
    for r in want:
        g = got[r["external_id"]]
        x, y = r["geom"].removeprefix("POINT(").removesuffix(")").split()
        assert (g.x, g.y, g.name, g.purpose, g.raw) == (
            float(x),
            float(y),
            r["name"],
            r["purpose"],
            r["raw"],
        )
        assert (g.heading_deg, g.fov_deg, g.camera_count, g.installed_on) == (
            r["heading_deg"],
            r["fov_deg"],
            r["camera_count"],
            r["installed_on"],
        )
        rec = source_record(r)
        assert (g.fields, g.coord_decimals, g.own) == (rec["fields"], rec["coord_decimals"], True)
    # the twin (last line) is loaded under the id of the placeholder row refused before it
    assert not any(r.row == expected["twin_line"] for r in rep.rejects)
    assert want[-1]["external_id"] in {r.value for r in rep.rejects} | set(got)
    placeholder = [r for r in rep.rejects if r.reason.startswith("placeholder")]
    assert placeholder and got[want[-1]["external_id"]].raw == want[-1]["raw"]
    session.execute(text("delete from data_loads where id = :i"), {"i": rep.load_id})
    again = load_cameras_bulk(session, path=path, refresh_views=False, timings=tm)
    assert "stage_index_s" in tm  # the serial upsert path compared every row
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(want))
    assert again.rejects == rep.rejects


def test_a_row_pandas_refuses_late_in_the_file_sends_it_to_the_serial_path(
    session: Session,
    national: tuple[Path, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # chunks were written before the ragged last row is reached: all of it goes back to the
    # savepoint and the serial path (the row path's reader) loads the file
    path, _ = national
    src = path.read_bytes()
    ragged = tmp_path / "ragged.csv"
    ragged.write_bytes(src.rstrip(b"\r\n") + b"\r\n" + b"x," * 30 + b"x\r\n")
    empty_source(session)
    before = session.execute(STATE).one()
    _pipeline(monkeypatch)
    want, want_rep = parse_cameras(ragged)
    tm: dict[str, float] = {}
    rep = load_cameras_bulk(session, path=ragged, refresh_views=False, timings=tm)
    assert "fixup_s" not in tm and tm.get("cameras_s", 0) > 0
    assert rep.rejects == want_rep.rejects and rep.inserted == len(want)
    after = session.execute(STATE).one()
    assert after[2:4] == before[2:4] and after[4] == 0  # (a rolled-back test's scratch swept)


@pytest.mark.parametrize("fails", ["reading thread", "second connection", "this transaction"])
def test_a_pipelined_first_load_that_fails_leaves_nothing(
    session: Session,
    national: tuple[Path, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    fails: str,
) -> None:
    # a failure after chunks are in both tables (the reading thread or the second connection's
    # copying thread at its third chunk, or this transaction once the records of the second are
    # written) leaves cameras, records, indexes and keys as they were, no scratch table (the
    # second connection's committed ones dropped), and the session usable
    from geo.load import bulk, bulk_pipeline

    empty_source(session)
    before = session.execute(STATE).one()
    _pipeline(monkeypatch)
    run = bulk._exec
    calls = {"records_s": 0}

    def fail_in_transaction(
        cur: Any, tm: dict[str, float], key: str, sql: str, p: Any = None
    ) -> None:
        run(cur, tm, key, sql, p)
        if key == "records_s":
            calls[key] += 1
            if calls[key] == 2:
                cur.execute("select 1 / 0")

    def fail_reading(i: int) -> None:
        if i == 2:
            raise RuntimeError("injected failure on a thread of the load")

    if fails == "reading thread":
        monkeypatch.setattr(bulk_pipeline, "_reader_hook", fail_reading)
    elif fails == "second connection":  # (its third chunk: two are in both tables)
        monkeypatch.setattr(bulk_pipeline, "_copy_hook", fail_reading)
    else:
        monkeypatch.setattr(bulk, "_exec", fail_in_transaction)
    with pytest.raises(Exception, match="injected|division by zero"):
        load_cameras_bulk(session, path=national[0], refresh_views=False)
    after = session.execute(STATE).one()
    assert after[:4] == before[:4] and after[4] == 0  # (a rolled-back test's scratch swept)
