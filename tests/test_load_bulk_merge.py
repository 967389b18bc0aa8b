"""The COPY path never duplicates a camera another source already holds.

``goldentime load cameras`` sends a standard-data CSV through the COPY path
(:func:`geo.load.bulk.load_cameras_bulk`), which does not match records against other sources.
The attack: a city that loaded its 2015 inventory and the traffic list first, then the
national standard file from the command line, would see every camera both files list twice on
the map (two dots, two ids, a video request split between them), although the docs promise that
loading the files in any order gives the same cameras.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.load.bulk import load_cameras_bulk
from geo.load.cameras import load_cameras
from geo.load.merge import MERGE_SOURCES

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
