"""The COPY path never duplicates a camera another source already holds.

``goldentime load cameras`` sends a standard-data CSV through the COPY path
(:func:`geo.load.bulk.load_cameras_bulk`), which does not match records against other sources.
The attack: a city that loaded its 2015 inventory and the traffic list first, then the
national standard file from the command line, would see every camera both files list twice on
the map (two dots, two ids, a video request split between them), although the docs promise that
loading the files in any order gives the same cameras.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.load import merge_scope
from geo.load.bulk import load_cameras_bulk
from geo.load.cameras import load_cameras
from geo.load.merge import MERGE_SOURCES
from geo.load.unify import merge_and_report

DATA = Path(__file__).resolve().parent.parent / "data" / "daejeon-cctv"
STANDARD = DATA / "national_standard_cctv_daejeon_2026_cp949.csv"
INVENTORY = DATA / "cctv_daejeon_2015_cp949.csv"
TRAFFIC = DATA / "traffic_cctv_daejeon.csv"


def _groups(session: Session) -> set[frozenset[tuple[str, str]]]:
    rows = session.execute(
        text("""select camera_id, array_agg(source || '|' || external_id)
                from camera_sources where source = any(:s) group by camera_id"""),
        {"s": list(MERGE_SOURCES)},
    ).all()
    return {frozenset(tuple(k.split("|", 1)) for k in keys) for _, keys in rows}


def test_standard_file_after_the_others_merges_as_the_row_loader_does(session: Session) -> None:
    merged = _groups(session)  # the sample: loaded by the row loader, merged
    assert sum(1 for g in merged if len(g) > 1) > 500
    session.execute(text("delete from cameras where source = any(:s)"), {"s": list(MERGE_SOURCES)})
    for path in (INVENTORY, TRAFFIC):
        load_cameras(session, path=path, refresh_views=False)
    report = load_cameras_bulk(session, path=STANDARD, refresh_views=False)
    assert _groups(session) == merged
    assert report.rejected == 992  # every bad row still reported, once


def _state(session: Session) -> tuple[set, set]:
    """The cameras of the merge sources by content, and which camera each record is in (by
    the camera's key): ids differ between two runs, the merged set must not."""
    cams = session.execute(
        text("""select source, external_id, name, purpose, agency, address, camera_count,
                       heading_deg, fov_deg, st_astext(geom) from cameras
                where source = any(:s)"""),
        {"s": list(MERGE_SOURCES)},
    ).all()
    recs = session.execute(
        text("""select r.source, r.external_id, c.source, c.external_id, r.matched_by,
                       r.matched_to, r.score
                from camera_sources r join cameras c on c.id = r.camera_id
                where r.source = any(:s)"""),
        {"s": list(MERGE_SOURCES)},
    ).all()
    return {tuple(r) for r in cams}, {tuple(r) for r in recs}


def _counts(report: Any) -> dict[str, Any]:
    (line,) = [n for n in report.notes if n.startswith("merge report: ")]
    return dict(json.loads(Path(line.rsplit(" and ", 1)[1]).read_text(encoding="utf-8")))


def _partial_then_whole(
    session: Session, monkeypatch: pytest.MonkeyPatch, load: Callable[[], Any]
) -> list[tuple[Any, dict[str, Any], Any]]:
    """(state, merge counts, report) of ``load()`` with the partial merge, then again with the
    row loader's whole merge in its place, each rolled back afterwards."""

    def whole(session: Session, *, report: Any, sources: list[str], written: Any = None) -> Any:
        return merge_and_report(session, report=report, sources=sources)

    out = []
    for how in ("partial", "whole"):
        if how == "whole":
            monkeypatch.setattr(merge_scope, "merge_touched", whole)
        point = session.begin_nested()
        report = load()
        out.append((_state(session), _counts(report), report))
        point.rollback()
    return out


def test_the_partial_merge_after_copy_equals_the_whole_merge(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the COPY path regroups only the records a merge can change (a million records in Python
    # took about 10 GB): the cameras, the records' cameras and the merge report's counts must be
    # exactly what the row loader's whole merge gives
    session.execute(text("delete from cameras where source = any(:s)"), {"s": list(MERGE_SOURCES)})
    for path in (INVENTORY, TRAFFIC):
        load_cameras(session, path=path, refresh_views=False)
    partial, whole = _partial_then_whole(
        session, monkeypatch, lambda: load_cameras_bulk(session, path=STANDARD, refresh_views=False)
    )
    assert partial[:2] == whole[:2] and partial[2].rejected == whole[2].rejected
    (cams, recs), counts, _ = partial
    assert len(cams) == counts["cameras"] and counts["sources"]["kr-standard"]["records"] == 8045
    assert sum(1 for r in recs if r[4] == "likely") > 500  # the merge did merge


def test_the_partial_merge_after_a_row_load_equals_the_whole_merge(
    session: Session, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the row loader regroups only the records it wrote and those a merge can reach: a reload
    # of the inventory with three merged cameras moved 220 m north (their pairs with the
    # standard records broken: those cameras must split) must give the whole merge's result
    moved = set(
        session.execute(
            text("""select external_id from camera_sources where source = 'daejeon-2015'
                    and matched_by = 'likely' order by external_id limit 3""")
        ).scalars()
    )
    assert len(moved) == 3
    # and one camera alone in its group renamed: its row must be derived again
    renamed = session.execute(
        text("""select external_id from camera_sources r where source = 'daejeon-2015'
                and not exists (select 1 from camera_sources o
                                where o.camera_id = r.camera_id and o.id <> r.id)
                order by external_id limit 1""")
    ).scalar_one()
    with open(INVENTORY, encoding="cp949", newline="") as f:
        rows = list(csv.reader(f))
    lat, name = rows[0].index("위도"), rows[0].index("번호")
    for r in rows[1:]:
        if r and r[0] in moved:
            r[lat] = f"{float(r[lat]) + 0.002:.7f}"
        if r and r[0] == renamed:
            r[name] = "999.이름 바뀜"
    path = tmp_path / INVENTORY.name
    with open(path, "w", encoding="cp949", newline="") as f:
        csv.writer(f).writerows(rows)

    partial, whole = _partial_then_whole(
        session, monkeypatch, lambda: load_cameras(session, path=path, refresh_views=False)
    )
    assert partial[2].updated == whole[2].updated == 4
    assert partial[:2] == whole[:2]
    (cams, recs), _, _ = partial
    assert {r[1] for r in recs if r[1] in moved and r[4] == "own"} == moved  # split
    assert ("daejeon-2015", renamed, "999.이름 바뀜") in {c[:3] for c in cams}
