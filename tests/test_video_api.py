"""Video egress over HTTP, behind the access gate: snapshot, live MJPEG, clips, masks, alerts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.video import archive
from geo.video.motion import Motion, store_events
from geo.video.sources import demo_clip_path, demo_stream_url
from tests.video_helpers import decode_frames

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
T = NOW - dt.timedelta(minutes=10)  # archive: 3 segments of 4 s from T
MASK = [[20, 20], [180, 20], [180, 120], [20, 120]]


def iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture
def world(session: Session, video_dir: Path, make_user: Any, auth_client: Any) -> dict[str, Any]:
    """Two cameras with the looping demo source and a 12 s archive, a mask on the first, an
    operator, an officer with a share of the first camera (live + the past hour)."""
    from geo.access.shares import create_share

    cams = list(
        session.execute(
            text("select id from cameras where purpose = 'crime_prevention' order by id limit 2")
        ).scalars()
    )
    session.execute(
        text("update cameras set stream_url = :u where id = any(:ids)"),
        {"u": demo_stream_url(), "ids": cams},
    )
    for c in cams:
        archive.import_video(
            session, camera_id=c, path=demo_clip_path(), start_at=T, segment_s=4, max_frames=120
        )
    op = make_user("vid-op", role="operator", agency="Daejeon CCTV Centre")
    officer = make_user("vid-officer")
    share = create_share(
        session,
        kind="push",
        granted_by=op,
        to_user=officer,
        camera_ids=[cams[0]],
        reason="case 2026-101 assault",
        past_start=NOW - dt.timedelta(hours=1),
        past_end=NOW,
    )
    oc = auth_client(op)
    r = oc.put(f"/api/cameras/{cams[0]}/masks", json={"masks": [{"points": MASK, "label": "flat"}]})
    assert r.status_code == 200, r.text
    return {
        "cams": cams,
        "op": op,
        "officer": officer,
        "share": share,
        "op_client": oc,
        "client": auth_client(officer),
        "make_user": make_user,
        "auth_client": auth_client,
    }


def audit_rows(session: Session, username: str) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in session.execute(
            text(
                "select action, camera_ids, share_id, detail, reason from audit_log where username = :u "
                "order by id"
            ),
            {"u": username},
        ).mappings()
    ]


def decode(jpg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def assert_masked(img: np.ndarray) -> None:
    inner = img[32:112, 32:176]  # whole 16x16 JPEG blocks inside the mask (no edge ringing)
    assert inner.max() <= 16, inner.max()
    assert img[200:, 250:].mean() > 40  # the scene elsewhere is visible


def test_snapshot_from_archive_is_masked_and_audited(session: Session, world: Any) -> None:
    cam = world["cams"][0]
    r = world["client"].get(
        f"/api/cameras/{cam}/snapshot.jpg", params={"at": iso(T + dt.timedelta(seconds=5))}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-frame-time"] == iso(T + dt.timedelta(seconds=5))
    img = decode(r.content)
    assert img.shape == (360, 480, 3)
    assert_masked(img)
    views = [a for a in audit_rows(session, "vid-officer") if a["action"] == "view"]
    assert views and views[-1]["camera_ids"] == [cam]
    assert (
        views[-1]["detail"]["access"] == "snapshot" and views[-1]["share_id"] == world["share"].id
    )


def test_live_snapshot(session: Session, world: Any) -> None:
    cam = world["cams"][0]
    r = world["client"].get(f"/api/cameras/{cam}/snapshot.jpg")
    assert r.status_code == 200, r.text
    t = dt.datetime.fromisoformat(r.headers["x-frame-time"])
    assert abs((t - dt.datetime.now(dt.UTC)).total_seconds()) < 30
    assert_masked(decode(r.content))


def test_clip_across_segments_masked_h264(session: Session, world: Any, tmp_path: Path) -> None:
    cam = world["cams"][0]
    start, end = T + dt.timedelta(seconds=3), T + dt.timedelta(seconds=9)
    r = world["client"].get(
        f"/api/cameras/{cam}/clip.mp4", params={"start": iso(start), "end": iso(end)}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp4" and r.headers["x-clip-codec"] == "avc1"
    assert r.headers["x-clip-frames"] == "60"
    p = tmp_path / "c.mp4"
    p.write_bytes(r.content)
    frames = decode_frames(p)
    assert len(frames) == 60
    for f in frames[::15]:
        assert_masked(f)
    clips = [a for a in audit_rows(session, "vid-officer") if a["detail"].get("access") == "clip"]
    assert clips and clips[-1]["action"] == "view"


def test_live_mjpeg_stream(session: Session, world: Any) -> None:
    cam = world["cams"][0]
    with world["client"].stream("GET", f"/api/cameras/{cam}/live.mjpg", params={"max_s": 1.2}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("multipart/x-mixed-replace; boundary=frame")
        body = b"".join(r.iter_bytes())
    parts = [p for p in body.split(b"--frame\r\n") if p]
    assert 2 <= len(parts) <= 12  # capped at live_max_fps (5/s)
    jpg = parts[0].split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
    assert_masked(decode(jpg))
    assert any(a["detail"].get("access") == "live" for a in audit_rows(session, "vid-officer"))


def test_live_stream_stops_when_the_share_expires(
    session: Session, world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream ends at the share's expiry by itself. The periodic re-check is pushed out of
    the way (in tests it cannot see the uncommitted user and would end the stream first), and the
    share is made last, just before the request, so the expiry margin is not spent on set-up."""
    from geo.access.shares import create_share
    from geo.settings import get_settings

    monkeypatch.setattr(get_settings(), "live_recheck_s", 3600.0)
    cam = world["cams"][1]
    officer2 = world["make_user"]("vid-officer2")
    c = world["auth_client"](officer2)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
    create_share(
        session,
        kind="push",
        granted_by=world["op"],
        to_user=officer2,
        camera_ids=[cam],
        reason="case 2026-102",
        expires_at=expires,
    )
    with c.stream("GET", f"/api/cameras/{cam}/live.mjpg") as r:
        assert r.status_code == 200
        body = b"".join(r.iter_bytes())  # ends by itself at expiry
    assert dt.datetime.now(dt.UTC) >= expires  # ended by the expiry, not before it
    assert body.count(b"--frame") >= 1
    # after expiry the same request is refused
    r = c.get(f"/api/cameras/{cam}/live.mjpg")
    assert r.status_code == 403 and "expired" in r.json()["detail"]["message"]


@pytest.mark.parametrize("case", ["wrong_ip", "no_share", "planner", "expired", "outside_window"])
def test_egress_refused_and_audited(session: Session, world: Any, case: str) -> None:
    cam = world["cams"][0]
    params: dict[str, str] = {"at": iso(T + dt.timedelta(seconds=5))}
    if case == "wrong_ip":
        user, ip = world["officer"], "203.0.113.9"
    elif case == "no_share":
        user, ip = world["make_user"]("vid-other"), "127.0.0.1"
    elif case == "planner":
        user, ip = world["make_user"]("vid-planner", role="planner"), "127.0.0.1"
    elif case == "expired":
        user, ip = world["officer"], "127.0.0.1"
        world["share"].expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        world["share"].granted_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        session.flush()
    else:
        user, ip = world["officer"], "127.0.0.1"
        params = {"at": iso(NOW - dt.timedelta(hours=2))}
    c = world["auth_client"](user, ip=ip)
    for path, p in [
        ("snapshot.jpg", params),
        (
            "clip.mp4",
            {
                "start": params["at"],
                "end": iso(dt.datetime.fromisoformat(params["at"]) + dt.timedelta(seconds=2)),
            },
        ),
    ]:
        r = c.get(f"/api/cameras/{cam}/{path}", params=p)
        assert r.status_code == 403, (case, r.text)
        assert r.json()["detail"]["message"]
    denied = [a for a in audit_rows(session, user.username) if a["action"] == "denied"]
    assert len(denied) >= 2 and denied[-1]["camera_ids"] == [cam]


def test_bad_input(session: Session, world: Any) -> None:
    cam = world["cams"][0]
    c = world["client"]
    r = c.get(
        f"/api/cameras/{cam}/clip.mp4",
        params={"start": iso(T), "end": iso(T + dt.timedelta(hours=2))},
    )
    assert r.status_code == 422 and r.json()["detail"]["field"] == "end"
    r = c.get(f"/api/cameras/{cam}/clip.mp4", params={"start": "yesterday", "end": iso(T)})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "start"
    # inside the share's window but before the archive starts
    r = c.get(f"/api/cameras/{cam}/snapshot.jpg", params={"at": iso(T - dt.timedelta(minutes=20))})
    assert r.status_code == 404 and r.json()["detail"]["field"] == "at"
    r = c.get(
        f"/api/cameras/{cam}/clip.mp4",
        params={
            "start": iso(T - dt.timedelta(minutes=20)),
            "end": iso(T - dt.timedelta(minutes=19)),
        },
    )
    assert r.status_code == 404 and r.json()["detail"]["field"] == "start"
    r = c.get("/api/cameras/99999999/snapshot.jpg")
    assert r.status_code == 404
    r = c.get("/api/cameras/abc/snapshot.jpg")
    assert r.status_code == 404


def test_unreachable_stream_is_503(session: Session, world: Any) -> None:
    cam = world["cams"][0]
    session.execute(
        text("update cameras set stream_url = 'file:///nonexistent/x.avi?loop=1' where id = :c"),
        {"c": cam},
    )
    for path in ("snapshot.jpg", "live.mjpg"):
        r = world["client"].get(f"/api/cameras/{cam}/{path}")
        assert r.status_code == 503, r.text
        assert r.json()["detail"]["field"] == "stream_url"


def test_masks_crud_roles(session: Session, world: Any) -> None:
    cam = world["cams"][0]
    r = world["op_client"].get(f"/api/cameras/{cam}/masks")
    assert r.status_code == 200 and r.json()["masks"][0]["points"] == MASK
    r = world["client"].put(f"/api/cameras/{cam}/masks", json={"masks": []})
    assert r.status_code == 403
    r = world["client"].get(f"/api/cameras/{cam}/masks")
    assert r.status_code == 403
    r = world["op_client"].put(f"/api/cameras/{cam}/masks", json={"masks": [{"points": [[1, 2]]}]})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "masks.0.points"
    r = world["op_client"].put("/api/cameras/99999999/masks", json={"masks": []})
    assert r.status_code == 404
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    r = world["op_client"].put(
        f"/api/cameras/{cam}/masks", json={"masks": [{"points": square, "label": "door"}]}
    )
    assert r.status_code == 200
    row = session.execute(
        text(
            "select camera_ids, detail from audit_log where action = 'masks_edit' "
            "order by id desc limit 1"
        )
    ).one()
    assert row.camera_ids == [cam] and row.detail["masks"][0]["label"] == "door"


def test_alerts_ranked_by_incident_distance(session: Session, world: Any) -> None:
    near, far = world["cams"]
    lon, lat = session.execute(
        text("select st_x(geom), st_y(geom) from cameras where id = :c"), {"c": near}
    ).one()
    inc = session.execute(
        text(
            "insert into incidents (kind, case_number, occurred_at, geom, status, source) values "
            "('police', 'C-2026-7', now(), st_setsrid(st_makepoint(:lon + 0.0004, :lat), 4326), "
            "'open', 'api') returning id"
        ),
        {"lon": lon, "lat": lat},
    ).scalar_one()
    now = dt.datetime.now(dt.UTC)
    ev = Motion(
        at=now - dt.timedelta(minutes=2),
        until_at=now - dt.timedelta(minutes=1, seconds=50),
        box=(10, 20, 30, 40),
        area_frac=0.02,
        score=0.6,
        frames=20,
    )
    store_events(session, camera_id=near, events=[ev])
    store_events(
        session,
        camera_id=far,
        events=[
            Motion(
                at=now - dt.timedelta(minutes=1),
                until_at=now - dt.timedelta(seconds=50),
                box=(0, 0, 50, 50),
                area_frac=0.03,
                score=0.7,
                frames=20,
            )
        ],
    )
    r = world["op_client"].get("/api/alerts", params={"since_s": 3600})
    assert r.status_code == 200, r.text
    alerts = [a for a in r.json()["alerts"] if a["camera_id"] in (near, far)]
    top = alerts[0]
    assert top["camera_id"] == near and top["incident_id"] == inc
    assert 30 < top["distance_m"] < 45 and "from open incident" in top["why"]
    assert top["box"] == {"x": 10, "y": 20, "w": 30, "h": 40}
    assert top["links"]["push_share"]["href"] == f"/api/incidents/{inc}/shares"
    assert top["links"]["clip"].startswith(f"/api/cameras/{near}/clip.mp4?start=")
    assert top["rank_score"] > alerts[1]["rank_score"]
    assert world["client"].get("/api/alerts").status_code == 403


def test_recorder_status_endpoint(session: Session, world: Any) -> None:
    cam = world["cams"][0]
    session.execute(
        text(
            "insert into recorder_status (camera_id, state, attempts, last_error, segments) "
            "values (:c, 'retrying', 3, 'cannot open video source rtsp://***@10.0.0.5/s', 0)"
        ),
        {"c": cam},
    )
    r = world["op_client"].get("/api/video/status")
    assert r.status_code == 200, r.text
    row = next(x for x in r.json()["cameras"] if x["camera_id"] == cam)
    assert row["state"] == "retrying" and row["attempts"] == 3
    assert row["archive"]["start"] == iso(T)
    assert world["client"].get("/api/video/status").status_code == 403
