"""Incidents CRUD and the one-click video request over HTTP; bad input names the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import text

YUSEONG = {"lat": 36.3622, "lon": 127.3566}


@pytest.fixture
def officer(make_user: Any) -> Any:
    return make_user("inc_officer", role="police", agency="Daejeon Yuseong Police")


@pytest.fixture
def api(officer: Any, auth_client: Any) -> Any:
    return auth_client(officer)


def _create(api: Any, **kw: Any) -> dict[str, Any]:
    body = {
        "kind": "traffic",
        "case_number": "YS-2026-0001",
        "priority": 2,
        "occurred_at": "2026-11-28T13:05:00+09:00",
        "description": "two cars",
        **YUSEONG,
    }
    body.update(kw)
    r = api.post("/api/incidents", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_create_get_patch_list(api: Any, session: Any) -> None:
    f = _create(api)
    p = f["properties"]
    assert f["geometry"]["coordinates"] == [YUSEONG["lon"], YUSEONG["lat"]]
    assert p["status"] == "open" and p["created_by"] == "inc_officer"
    assert p["occurred_at"] == "2026-11-28T04:05:00+00:00"
    iid = f["id"]
    assert api.get(f"/api/incidents/{iid}").json()["properties"]["case_number"] == "YS-2026-0001"

    listed = api.get(
        "/api/incidents",
        params={
            "kind": "traffic",
            "status": "open",
            "bbox": "127.35,36.36,127.36,36.37",
            "start": "2026-11-28T13:00:00+09:00",
            "end": "2026-11-28T14:00:00+09:00",
        },
    ).json()
    assert iid in [x["id"] for x in listed["features"]]
    closed = api.get(
        "/api/incidents", params={"status": "closed", "bbox": "127.35,36.36,127.36,36.37"}
    ).json()
    assert iid not in [x["id"] for x in closed["features"]]

    r = api.patch(f"/api/incidents/{iid}", json={"status": "closed", "description": "cleared"})
    assert r.status_code == 200 and r.json()["properties"]["status"] == "closed"
    r = api.patch(f"/api/incidents/{iid}", json={"status": "open"})
    assert r.status_code == 409 and r.json()["detail"]["field"] == "status"
    r = api.patch(f"/api/incidents/{iid}", json={"lat": 36.0})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "lon"
    r = api.patch(f"/api/incidents/{iid}", json={"lat": 36.37, "lon": 127.35, "priority": 1})
    assert r.json()["geometry"]["coordinates"] == [127.35, 36.37]
    actions = session.execute(
        text("select action from audit_log where incident_id = :i order by id"), {"i": iid}
    ).scalars()
    assert list(actions) == ["incident_create", "incident_update", "incident_update"]


def test_time_without_offset_is_kst(api: Any) -> None:
    f = _create(api, occurred_at="2026-11-28T09:00:00")
    assert f["properties"]["occurred_at"] == "2026-11-28T00:00:00+00:00"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"lat": 91}, "lat"),
        ({"lat": -90.5}, "lat"),
        ({"lon": 181}, "lon"),
        ({"lat": "north"}, "lat"),
        ({"occurred_at": "yesterday-ish"}, "occurred_at"),
        ({"occurred_at": "2026-13-45T99:00:00"}, "occurred_at"),
        ({"kind": "alien"}, "kind"),
        ({"priority": 9}, "priority"),
        ({"case_number": "x" * 65}, "case_number"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_incident_input_names_the_field(api: Any, patch: dict[str, Any], field: str) -> None:
    body = {"kind": "fire", **YUSEONG, **patch}
    r = api.post("/api/incidents", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == field


def test_missing_and_unknown(api: Any) -> None:
    r = api.post("/api/incidents", json={"lat": 36.3, "lon": 127.3})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "kind"
    r = api.get("/api/incidents/999999999")
    assert r.status_code == 404 and r.json()["detail"]["field"] == "incident_id"
    r = api.patch("/api/incidents/999999999", json={"status": "closed"})
    assert r.status_code == 404 and r.json()["detail"]["field"] == "incident_id"
    r = api.get("/api/incidents/not-a-number")
    assert r.status_code == 422 and r.json()["detail"]["field"] == "incident_id"
    r = api.get("/api/incidents", params={"end": "31/12/2021"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "end"


def test_planner_may_read_but_not_write(make_user: Any, auth_client: Any, api: Any) -> None:
    iid = _create(api)["id"]
    planner = auth_client(make_user("inc_planner", role="planner", agency="Daejeon"))
    assert planner.get(f"/api/incidents/{iid}").status_code == 200
    r = planner.post("/api/incidents", json={"kind": "fire", **YUSEONG})
    assert r.status_code == 403 and "planner" in r.json()["detail"]["message"]
    assert planner.patch(f"/api/incidents/{iid}", json={"status": "closed"}).status_code == 403


def test_video_request_gives_five_cameras_and_a_share(api: Any, session: Any) -> None:
    iid = _create(api)["id"]
    r = api.post(f"/api/incidents/{iid}/video-requests")
    assert r.status_code == 201, r.text
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 5
    for f in fc["features"]:
        p = f["properties"]
        assert p["distance_m"] >= 0 and 0 <= p["bearing_deg"] < 360 and "in_view" in p
        # media links: the requester's short-lived token for this camera and share
        assert p["links"]["live"].startswith(f"/api/cameras/{f['id']}/live.mjpg?mt=")
        assert p["links"]["clip"].startswith(f"/api/cameras/{f['id']}/clip.mp4?start=")
        assert "&mt=" in p["links"]["clip"]
    dists = [f["properties"]["distance_m"] for f in fc["features"]]
    assert dists[0] < 1000
    share = fc["share"]
    assert share["granted_to_user"] == "inc_officer" and share["kind"] == "request"
    assert fc["window"] == {
        "start": "2026-11-28T03:35:00+00:00",
        "end": "2026-11-28T04:05:00+00:00",
    }
    expires = dt.datetime.fromisoformat(fc["expires_at"])
    left = expires - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=23) < left <= dt.timedelta(hours=24)
    assert share["camera_ids"] == [f["id"] for f in fc["features"]]
    row = session.execute(
        text(
            "select camera_ids, case_number, window_start, share_id from audit_log "
            "where action = 'video_request' and incident_id = :i"
        ),
        {"i": iid},
    ).one()
    assert row.camera_ids == share["camera_ids"] and row.case_number == "YS-2026-0001"
    assert row.share_id == fc["share_id"]
    assert api.get(f"/api/shares/{fc['share_id']}").status_code == 200


def test_video_request_hides_stream_urls(api: Any, session: Any) -> None:
    """The officer gets links through the access gate, never the camera's RTSP credentials."""
    session.execute(text("update cameras set stream_url = 'rtsp://u:secret@10.0.0.9/s1'"))
    iid = _create(api)["id"]
    r = api.post(f"/api/incidents/{iid}/video-requests")
    assert r.status_code == 201, r.text
    assert "secret" not in r.text
    assert all(f["properties"]["has_stream"] for f in r.json()["features"])


def test_video_request_options_and_bad_input(api: Any) -> None:
    iid = _create(api)["id"]
    r = api.post(
        f"/api/incidents/{iid}/video-requests",
        json={
            "k": 3,
            "reason": "hit and run",
            "live": False,
            "start": "2026-11-28T12:00:00+09:00",
            "end": "2026-11-28T13:10:00+09:00",
        },
    )
    assert r.status_code == 201, r.text
    fc = r.json()
    assert len(fc["features"]) == 3 and fc["share"]["reason"] == "hit and run"
    assert fc["share"]["live"] is False and fc["window"]["start"] == "2026-11-28T03:00:00+00:00"
    for body, field in (
        ({"k": 0}, "k"),
        ({"k": 51}, "k"),
        ({"start": "soon"}, "start"),
        ({"start": "2026-11-28T13:00:00+09:00", "end": "2026-11-28T12:00:00+09:00"}, "start"),
        ({"end": "2026-11-28T12:00:00+09:00"}, "start"),
    ):
        r = api.post(f"/api/incidents/{iid}/video-requests", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"]["field"] == field, body
    api.patch(f"/api/incidents/{iid}", json={"status": "closed"})
    r = api.post(f"/api/incidents/{iid}/video-requests")
    assert r.status_code == 409 and r.json()["detail"]["field"] == "incident_id"
    r = api.post("/api/incidents/999999999/video-requests")
    assert r.status_code == 404 and r.json()["detail"]["field"] == "incident_id"


def test_video_request_rules(api: Any, make_user: Any, auth_client: Any, fresh_engine: Any) -> None:
    iid = _create(api)["id"]
    fire = auth_client(make_user("inc_fire", role="fire", agency="Yuseong Fire"))
    # another agency's officer: only once the police station shares the incident (policy)
    assert fire.post(f"/api/incidents/{iid}/video-requests").status_code == 403
    assert api.post(f"/api/incidents/{iid}/share-with", json={"agency": "Yuseong Fire"}).is_success
    assert fire.post(f"/api/incidents/{iid}/video-requests").status_code == 201
    for name, role in (
        ("inc_op", "operator"),
        ("inc_inv", "investigator"),
        ("inc_plan", "planner"),
    ):
        c = auth_client(make_user(name, role=role, agency="X"))
        r = c.post(f"/api/incidents/{iid}/video-requests")
        assert r.status_code == 403 and f"role {role!r}" in r.json()["detail"]["message"]
    # the same officer from an unregistered address: refused, and the refusal is on record
    with fresh_engine.connect() as conn:
        before = conn.execute(text("select coalesce(max(id), 0) from audit_log")).scalar_one()
    outside = auth_client(make_user("inc_officer2", role="police"), ip="203.0.113.77")
    r = outside.post(f"/api/incidents/{iid}/video-requests")
    assert r.status_code == 403 and "203.0.113.77" in r.json()["detail"]["message"]
    with fresh_engine.connect() as conn:
        rows = conn.execute(
            text(
                "select action, incident_id, client_ip, case_number from audit_log "
                "where id > :i and username = 'inc_officer2'"
            ),
            {"i": before},
        ).all()
    # refused by the gate on every route (api.deps.token_claims) before the route runs; the
    # incident's case number is looked up on a fresh connection, which cannot see this test's
    # uncommitted incident
    assert [tuple(x)[:3] for x in rows] == [("denied", iid, "203.0.113.77")]
