"""One camera, one row: the same physical camera in several Daejeon files becomes one camera.

On the real files in data/: the 2015 inventory, the national standard data and the traffic list.
Each test is an attack on the merged set: a duplicate row, a re-load that moves ids, a load order
that changes the result, a weak match that merges anyway, counts that do not add up, a merge
that leaves a share or a recording pointing at a camera that no longer exists.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.load.cameras import load_cameras
from geo.load.merge import MERGE_SOURCES, address_keys, match_candidates

DATA = Path(__file__).resolve().parent.parent / "data" / "daejeon-cctv"
STANDARD = DATA / "national_standard_cctv_daejeon_2026_cp949.csv"
INVENTORY = DATA / "cctv_daejeon_2015_cp949.csv"
TRAFFIC = DATA / "traffic_cctv_daejeon.csv"
FILES = {"kr-standard": STANDARD, "daejeon-2015": INVENTORY, "kr-traffic-api": TRAFFIC}


def _groups(session: Session) -> set[frozenset[tuple[str, str]]]:
    rows = session.execute(
        text("""select camera_id, array_agg(source || '|' || external_id)
                from camera_sources where source = any(:s) group by camera_id"""),
        {"s": list(MERGE_SOURCES)},
    ).all()
    return {frozenset(tuple(k.split("|", 1)) for k in keys) for _, keys in rows}


def _snapshot(session: Session) -> tuple[list, list]:
    cams = session.execute(
        text("""select id, md5(to_jsonb(c)::text) from cameras c
                where source = any(:s) order by id"""),
        {"s": list(MERGE_SOURCES)},
    ).all()
    recs = session.execute(
        text("""select source, external_id, camera_id, md5(to_jsonb(s)::text)
                from camera_sources s order by source, external_id""")
    ).all()
    return [tuple(r) for r in cams], [tuple(r) for r in recs]


def _merge_report(report) -> tuple[list[dict[str, str]], dict]:
    line = next(n for n in report.notes if n.startswith("merge report: "))
    csv_path, json_path = line[len("merge report: ") :].split(" and ")
    with open(csv_path, encoding="utf-8-sig", newline="") as f:
        pairs = list(csv.DictReader(f))
    return pairs, json.loads(Path(json_path).read_text(encoding="utf-8"))


def test_okryeobong_crossroads_is_one_camera_with_both_ids(session: Session) -> None:
    """옥녀봉네거리: in the 2015 inventory (other CCTV, 원신흥동 63-3) and the traffic list
    (교통관제용, 유성구 원신흥동 63-3) 18.6 m apart: one camera that keeps both records."""
    recs = (
        session.execute(
            text("""select source, external_id, camera_id, matched_by, matched_to, score, reason,
                           fields->>'name' as name, fields->>'purpose' as purpose
                    from camera_sources where fields->>'name' like '%옥녀봉네거리%'
                    order by source""")
        )
        .mappings()
        .all()
    )
    assert [(r["source"], r["external_id"]) for r in recs] == [
        ("daejeon-2015", "30200CTVUTI000000005"),
        ("kr-traffic-api", "유성구청:1005.(교통 15) 옥녀봉네거리"),
    ]
    assert recs[0]["camera_id"] == recs[1]["camera_id"]
    cams = session.execute(
        text("""select distinct c.id, c.source, c.external_id, c.name, c.purpose, c.agency
                from cameras c join camera_sources s on s.camera_id = c.id
                where c.name like '%옥녀봉네거리%' or s.fields::text like '%옥녀봉네거리%'""")
    ).all()
    assert len(cams) == 1 and cams[0][0] == recs[0]["camera_id"]
    # the traffic list keys the row and names it; its purpose beats the inventory's 'other'
    assert cams[0][1:] == (
        "kr-traffic-api",
        "유성구청:1005.(교통 15) 옥녀봉네거리",
        "1005.(교통 15) 옥녀봉네거리",
        "traffic",
        "유성구청",
    )
    # each source keeps its own values and says how it joined
    assert (recs[0]["name"], recs[0]["purpose"]) == ("옥녀봉네거리", "other")
    assert recs[1]["matched_by"] == "own" and recs[0]["matched_by"] == "likely"
    assert recs[0]["matched_to"] == "kr-traffic-api:유성구청:1005.(교통 15) 옥녀봉네거리"
    assert "18.6 m apart" in recs[0]["reason"] and "same address 원신흥동63-3" in recs[0]["reason"]
    assert recs[0]["score"] == pytest.approx(0.69, abs=0.001)
    # and one view, one DORI answer: nearest-k lists it once
    from geo.nearest import nearest_cameras

    near = nearest_cameras(session, lat=36.33215, lon=127.34824, k=5)
    assert sum(1 for c in near if c["id"] == cams[0][0]) == 1
    assert len({c["id"] for c in near}) == len(near)


def test_address_keys_read_road_and_lot_addresses() -> None:
    assert address_keys("월평로 14(월평1동 1152 / 월평초교, 동소예 앞)") == {
        "월평로14",
        "월평1동1152",
    }
    assert address_keys("대전광역시 유성구 원신흥동 63-3") == {"원신흥동63-3"}
    assert address_keys("옥녀봉네거리 2") == set()  # crossroads, not a 동/리
    assert address_keys("대전광역시 동구 계족로140번길 191-1") == {"계족로140번길191-1"}


def test_notes_print_as_plain_lines_warnings_as_warnings() -> None:
    from geo.load.common import LoadReport

    rep = LoadReport(kind="cameras", fmt="kr-standard", path="/x/a.csv")
    rep.notes.append("merge report: /r/m.csv and /r/m.json")
    rep.warnings.append("row 7 repeats row 3 exactly; loaded once")
    lines = rep.summary().splitlines()
    assert "  merge report: /r/m.csv and /r/m.json" in lines
    assert "  warning: row 7 repeats row 3 exactly; loaded once" in lines
    assert rep.as_dict()["notes"] == rep.notes and rep.as_dict()["warnings"] == rep.warnings


def test_reloading_any_source_changes_nothing(session: Session) -> None:
    # a stream configured in the video system (no file names one) survives every reload: a
    # reload that reset it cut officers off from the live picture
    session.execute(
        text("""update cameras set stream_url = 'rtsp://10.20.30.40/' || id
                where id in (select id from cameras where source = any(:s) order by id limit 40)"""),
        {"s": list(MERGE_SOURCES)},
    )
    before = _snapshot(session)
    for source, path in FILES.items():
        rep = load_cameras(session, path=path)
        assert (rep.inserted, rep.updated) == (0, 0), source
        _, counts = _merge_report(rep)
        assert counts["cameras"] == len(before[0])
    assert _snapshot(session) == before  # same rows, same ids, same records


def test_load_order_does_not_change_the_merged_set(session: Session) -> None:
    """The sample loads standard, inventory, traffic; traffic, inventory, standard and
    inventory, standard, traffic give the same cameras (as sets of source records)."""
    merged = _groups(session)
    assert sum(1 for g in merged if len(g) > 1) > 500
    for order in (
        ("kr-traffic-api", "daejeon-2015", "kr-standard"),
        ("daejeon-2015", "kr-standard", "kr-traffic-api"),
    ):
        session.execute(text("delete from cameras where source = any(:s)"), {"s": list(order)})
        left = session.execute(
            text("select count(*) from camera_sources where source = any(:s)"), {"s": list(order)}
        )
        assert left.scalar_one() == 0
        for source in order:
            load_cameras(session, path=FILES[source], refresh_views=False)
        assert _groups(session) == merged, order


def test_possible_pair_stays_two_cameras_and_is_reported(session: Session) -> None:
    """058.월평초등학교#2 (2015) stands 4 cm from the standard-data site 월평로13번길 28, but that
    site's best match is the pole's #1 camera: a possible pair, reported, never merged."""
    pairs = match_candidates(session)
    p = next(
        q
        for q in pairs
        if q["a_name"] == "058.월평초등학교#2"
        and q["b_address"] == "대전광역시 서구 월평로13번길 28"
    )
    assert p["decision"] == "possible" and p["distance_m"] < 0.1
    assert "not each other's best match" in p["why"]
    assert p["a_camera_id"] != p["b_camera_id"]
    both = session.execute(
        text("select count(*) from cameras where id = any(:ids)"),
        {"ids": [p["a_camera_id"], p["b_camera_id"]]},
    ).scalar_one()
    assert both == 2
    rep = load_cameras(session, path=INVENTORY)
    rows, _ = _merge_report(rep)
    row = next(r for r in rows if r["a_name"] == "058.월평초등학교#2" and r["b_ext"] == p["b_ext"])
    assert row["decision"] == "possible" and row["merged"] == "False"
    # every merged pair in the report is likely and names its distance, address and score
    merged = [r for r in rows if r["merged"] == "True"]
    assert merged and all(r["decision"] == "likely" for r in merged)
    assert all(" m apart" in r["why"] and r["score"] for r in merged)


def test_report_counts_add_up_to_the_file_rows(session: Session) -> None:
    rep = load_cameras(session, path=TRAFFIC)
    _, counts = _merge_report(rep)
    by_src = counts["sources"]
    files = {f["source"]: f for f in counts["files"]}
    assert set(files) == set(MERGE_SOURCES)
    # rows in each file -> rejected -> records
    assert (files["kr-standard"]["rows_read"], files["kr-standard"]["rejected"]) == (9037, 992)
    assert (files["daejeon-2015"]["rows_read"], files["daejeon-2015"]["rejected"]) == (5624, 3707)
    assert (files["kr-traffic-api"]["rows_read"], files["kr-traffic-api"]["rejected"]) == (63, 0)
    for s in MERGE_SOURCES:
        f, c = files[s], by_src[s]
        assert f["rows_read"] - f["rejected"] == f["accepted"] == c["records"], s
        # records -> merged into another source's camera -> own rows
        assert c["records"] == c["own_rows"] + c["merged_into"], s
    assert by_src["kr-standard"]["merged_into"] == 0  # the standard data keys every camera it is in
    # own rows -> final camera rows, as in the database
    db = dict(
        session.execute(
            text("select source, count(*) from cameras where source = any(:s) group by 1"),
            {"s": list(MERGE_SOURCES)},
        ).all()
    )
    assert {s: by_src[s]["own_rows"] for s in MERGE_SOURCES} == db
    assert counts["cameras"] == sum(db.values())
    # the district x purpose table splits the same numbers
    cells = counts["by_district_purpose"]
    assert sum(c["cameras"] for c in cells) == counts["cameras"]
    assert sum(c["merged_into"] for c in cells) == sum(by_src[s]["merged_into"] for s in by_src)
    for s in MERGE_SOURCES:
        assert sum(c[s] for c in cells) == by_src[s]["records"], s
    yuseong = {c["purpose"]: c for c in cells if c["district"] == "유성구"}
    assert sum(c["kr-standard"] for c in yuseong.values()) == 580  # SOURCE.md: 유성구 580 rows
    # the merge summary is information, not a warning: notes, printed as plain lines
    assert any(n.startswith("merge report: ") for n in rep.notes)
    assert any(n.startswith("one camera, one row: ") for n in rep.notes)
    assert not any("merge report: " in w or "one camera, one row" in w for w in rep.warnings)
    printed = rep.summary().splitlines()
    assert any(ln.startswith("  merge report: ") for ln in printed)
    assert not any("warning: " in ln and "one camera, one row" in ln for ln in printed)
    assert rep.as_dict()["notes"] == rep.notes


def _singleton_2015(session: Session) -> tuple[int, str, float, float]:
    """A 2015 camera alone in its row, no traffic record within 200 m, purpose other."""
    return session.execute(
        text("""select c.id, s.fields->>'address', st_x(c.geom), st_y(c.geom)
                from cameras c join camera_sources s on s.camera_id = c.id
                where c.source = 'daejeon-2015' and c.purpose = 'other'
                  and s.fields->>'address' is not null
                  and (select count(*) from camera_sources x where x.camera_id = c.id) = 1
                  and not exists (select 1 from camera_sources t
                                  where t.source = 'kr-traffic-api'
                                    and st_dwithin(t.geom::geography, c.geom::geography, 200))
                order by c.id limit 1""")
    ).one()


def _traffic_csv(path: Path, lon: float, lat: float, address: str) -> Path:
    path.write_text(
        "manageNo,mgcNm,cctvNm,lnmAdres,rdnmadr,lon,lat\n"
        f'99.(교통 99) 시험,유성구청,교통관제용,"{address}",,{lon:.7f},{lat:.7f}\n',
        encoding="utf-8",
    )
    return path


def _mask(session: Session, camera_id: int, label: str) -> None:
    session.execute(
        text("""insert into camera_masks (camera_id, label, points)
                values (:c, :l, cast('[[0,0],[1,0],[1,1]]' as jsonb))"""),
        {"c": camera_id, "l": label},
    )


def test_a_new_source_attaches_to_the_existing_camera(session: Session, tmp_path: Path) -> None:
    """A traffic-list row for a camera already loaded: no new row, the id and its masks stay."""
    cid, address, lon, lat = _singleton_2015(session)
    _mask(session, cid, "x")
    n = session.execute(text("select count(*) from cameras")).scalar_one()
    rep = load_cameras(session, path=_traffic_csv(tmp_path / "t.csv", lon, lat, address))
    assert rep.inserted == 1
    assert session.execute(text("select count(*) from cameras")).scalar_one() == n
    recs = session.execute(
        text("""select source, matched_by, matched_to from camera_sources where camera_id = :i
                order by source"""),
        {"i": cid},
    ).all()
    # the traffic list now keys the row; the inventory's record is attached to it
    assert [tuple(r) for r in recs] == [
        ("daejeon-2015", "likely", "kr-traffic-api:유성구청:99.(교통 99) 시험"),
        ("kr-traffic-api", "own", None),
    ]
    row = session.execute(text("select source, purpose from cameras where id = :i"), {"i": cid})
    assert tuple(row.one()) == ("kr-traffic-api", "traffic")
    masks = session.execute(text("select camera_id from camera_masks where label = 'x'"))
    assert masks.scalars().all() == [cid]


def _share(session: Session, user_id: int, camera_ids: list[int]) -> int:
    sid = session.execute(
        text("""insert into shares (kind, granted_to_user_id, granted_by_user_id, expires_at,
                                    reason)
                values ('push', :u, :u, now() + interval '1 day', 'merge test') returning id"""),
        {"u": user_id},
    ).scalar_one()
    for pos, cid in enumerate(camera_ids):
        session.execute(
            text("insert into share_cameras (share_id, camera_id, position) values (:s, :c, :p)"),
            {"s": sid, "c": cid, "p": pos},
        )
    return int(sid)


def test_merged_away_camera_leaves_no_dangling_reference(
    session: Session, tmp_path: Path, make_user
) -> None:
    """A traffic camera loaded 1 km off, then corrected onto a 2015 camera: the two rows become
    one; the row with more references keeps its id and the other's references (masks, shares)
    move to it; a share naming both names the survivor once."""
    cid, address, lon, lat = _singleton_2015(session)
    path = _traffic_csv(tmp_path / "t.csv", lon + 0.011, lat, "어딘가 1")
    load_cameras(session, path=path)
    other = session.execute(
        text(
            "select camera_id from camera_sources where external_id = '유성구청:99.(교통 99) 시험'"
        )
    ).scalar_one()
    assert other != cid
    _mask(session, cid, "a")
    _mask(session, cid, "b")
    _mask(session, other, "c")
    user = make_user("merge_officer")
    both = _share(session, user.id, [cid, other])
    only_other = _share(session, user.id, [other])
    load_cameras(session, path=_traffic_csv(path, lon, lat, address))
    gone = session.execute(text("select count(*) from cameras where id = :i"), {"i": other})
    assert gone.scalar_one() == 0
    masks = session.execute(text("select label, camera_id from camera_masks order by label"))
    assert [tuple(r) for r in masks if r[0] in "abc"] == [("a", cid), ("b", cid), ("c", cid)]
    recs = session.execute(
        text("select count(*) from camera_sources where camera_id = :i"), {"i": cid}
    ).scalar_one()
    assert recs == 2
    shared = session.execute(
        text("select share_id, camera_id from share_cameras where share_id = any(:s) order by 1"),
        {"s": [both, only_other]},
    ).all()
    assert [tuple(r) for r in shared] == [(both, cid), (only_other, cid)]
    dangling = session.execute(
        text("""select count(*) from camera_sources s
                where not exists (select 1 from cameras c where c.id = s.camera_id)""")
    ).scalar_one()
    assert dangling == 0


def test_pairs_are_found_across_the_antimeridian_and_near_a_pole(session: Session) -> None:
    # the pair query takes candidates from a box in degrees around each record (the geometry
    # index): a box cut at 180 degrees, or too narrow where a degree of longitude is a few
    # metres, would miss records metres apart; a box too wide is harmless (the exact test is on
    # the spheroid)
    spots = {
        "antimeridian": ((179.99995, 10.0), (-179.99995, 10.0)),  # 11 m apart
        "pole": ((0.0, 89.9999), (90.0, 89.9999)),  # 16 m apart
        "far": ((127.0, 36.0), (127.001, 36.0)),  # 90 m apart: no pair
    }
    for name, (a, b) in spots.items():
        for src, (x, y) in (("t-pairs-a", a), ("t-pairs-b", b)):
            session.execute(
                text("""insert into camera_sources (source, external_id, fields, geom)
                        values (:s, :e, '{}'::jsonb, st_setsrid(st_makepoint(:x, :y), 4326))"""),
                {"s": src, "e": name, "x": x, "y": y},
            )
    pairs = match_candidates(session, sources=["t-pairs-a", "t-pairs-b"])
    got = {(p["a_ext"], p["b_ext"]): p["distance_m"] for p in pairs}
    assert set(got) == {("antimeridian", "antimeridian"), ("pole", "pole")}
    assert 10 < got[("antimeridian", "antimeridian")] < 12
    assert 14 < got[("pole", "pole")] < 18
