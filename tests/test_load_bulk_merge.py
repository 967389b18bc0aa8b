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


def test_a_reload_keeps_the_stream_an_operator_configured(session: Session) -> None:
    """The registry files name no stream: a camera's ``stream_url`` comes from the control
    centre's video system. Re-loading the national file (the row loader, then the COPY path,
    which the command line uses) must not cut an officer off from the live picture."""
    ids = [
        r[0]
        for r in session.execute(
            text("""select c.id from cameras c where c.source = 'kr-standard' order by c.id""")
        ).all()
    ]
    merged = session.execute(
        text("""select distinct camera_id from camera_sources where source <> 'kr-standard'""")
    ).scalars()
    picked = [i for i in ids if i not in set(merged)][:2] + [
        i for i in ids if i in set(_merged_ids(session))
    ][:1]
    url = "rtsp://10.20.30.40/stream1"
    session.execute(
        text("update cameras set stream_url = :u where id = any(:i)"), {"u": url, "i": picked}
    )
    session.execute(text("delete from data_loads where kind = 'cameras'"))  # no skip: compare all
    for load in (load_cameras, load_cameras_bulk):
        load(session, path=STANDARD, refresh_views=False)
        kept = session.execute(
            text("select count(*) from cameras where id = any(:i) and stream_url = :u"),
            {"i": picked, "u": url},
        ).scalar_one()
        assert kept == len(picked) == 3, load.__name__


def _merged_ids(session: Session) -> list[int]:
    return list(
        session.execute(
            text("""select camera_id from camera_sources group by camera_id
                    having count(distinct source) > 1""")
        ).scalars()
    )
