"""The one access gate (geo.access) and the share endpoints: every rule, refused and audited."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from geo.access.gate import authorize_share, authorize_video
from geo.access.shares import create_share
from geo.errors import Forbidden, InvalidInput, NotFound
from geo.incidents import create_incident

YUSEONG = {"lat": 36.3622, "lon": 127.3566}


def _max_audit_id(engine: Any) -> int:
    with engine.connect() as c:
        return int(c.execute(text("select coalesce(max(id), 0) from audit_log")).scalar_one())


def _audit_since(engine: Any, last_id: int) -> list[Any]:
    """Committed audit records after ``last_id`` (denials are committed by the gate itself)."""
    with engine.connect() as c:
        return c.execute(
            text("select * from audit_log where id > :i order by id"), {"i": last_id}
        ).all()


@pytest.fixture
def world(session: Any, make_user: Any) -> SimpleNamespace:
    w = SimpleNamespace()
    w.officer = make_user("sh_officer", role="police", agency="Daejeon Yuseong Police")
    w.colleague = make_user("sh_colleague", role="police", agency="Daejeon Yuseong Police")
    w.stranger = make_user("sh_stranger", role="police", agency="Daejeon Jung Police")
    w.operator = make_user("sh_operator", role="operator", agency="Yuseong CCTV centre")
    w.planner = make_user("sh_planner", role="planner", agency="Daejeon Metropolitan City")
    w.auditor = make_user("sh_auditor", role="auditor", agency="Daejeon Metropolitan City")
    occurred = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    w.incident = create_incident(
        session, kind="traffic", case_number="TEST-SH-1", occurred_at=occurred, **YUSEONG
    )
    w.cams = list(session.execute(text("select id from cameras order by id limit 3")).scalars())
    w.share = create_share(
        session,
        kind="request",
        granted_by=w.officer,
        to_user=w.officer,
        camera_ids=w.cams[:2],
        reason="accident TEST-SH-1",
        incident_id=w.incident["id"],
        case_number="TEST-SH-1",
        past_start=occurred - dt.timedelta(minutes=30),
        past_end=occurred,
    )
    w.t0 = occurred - dt.timedelta(minutes=20)
    w.t1 = occurred - dt.timedelta(minutes=10)
    return w


def _gate(session: Any, w: SimpleNamespace, user: Any = None, **kw: Any) -> Any:
    args = {
        "user": user or w.officer,
        "client_ip": "127.0.0.1",
        "camera_id": w.cams[0],
        "action": "clip",
        "start": w.t0,
        "end": w.t1,
    }
    args.update(kw)
    return authorize_video(session, **args)


def _refused(session: Any, w: SimpleNamespace, fresh_engine: Any, **kw: Any) -> tuple[str, Any]:
    before = _max_audit_id(fresh_engine)
    with pytest.raises(Forbidden) as e:
        _gate(session, w, **kw)
    rows = [r for r in _audit_since(fresh_engine, before) if r.action == "denied"]
    assert len(rows) == 1, rows
    assert rows[0].reason == e.value.message and rows[0].hash is not None
    return e.value.message, rows[0]


def test_share_allows_recorded_and_live_and_logs_the_view(session: Any, world: Any) -> None:
    share = _gate(session, world)
    assert share.id == world.share.id and share.face_blur is True
    assert _gate(session, world, action="live", live=True, start=None, end=None).id == share.id
    rows = session.execute(
        text(
            "select action, camera_ids, share_id, case_number, detail->>'access' as access "
            "from audit_log where username = 'sh_officer' and action = 'view' order by id"
        )
    ).all()
    assert [(r.access, r.camera_ids, r.share_id, r.case_number) for r in rows] == [
        ("clip", [world.cams[0]], share.id, "TEST-SH-1"),
        ("live", [world.cams[0]], share.id, "TEST-SH-1"),
    ]


def test_wrong_ip_is_refused_and_audited(session: Any, world: Any, fresh_engine: Any) -> None:
    msg, row = _refused(session, world, fresh_engine, client_ip="198.51.100.23")
    assert "198.51.100.23 is not registered" in msg
    assert row.username == "sh_officer" and row.client_ip == "198.51.100.23"
    assert row.camera_ids == [world.cams[0]] and row.detail["code"] == "ip"


def test_ipv6_and_mapped_addresses(session: Any, world: Any, fresh_engine: Any) -> None:
    assert _gate(session, world, client_ip="::1").id == world.share.id
    assert _gate(session, world, client_ip="::ffff:127.0.0.1").id == world.share.id
    _refused(session, world, fresh_engine, client_ip="testclient")


def test_wrong_role_is_refused(session: Any, world: Any, fresh_engine: Any) -> None:
    for u in (world.planner, world.auditor):
        msg, row = _refused(session, world, fresh_engine, user=u)
        assert f"role {u.role!r}" in msg and row.detail["code"] == "role"


def test_expired_share_is_refused(session: Any, world: Any, fresh_engine: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    world.share.granted_at = now - dt.timedelta(hours=30)
    world.share.expires_at = now - dt.timedelta(hours=6)
    session.flush()
    msg, row = _refused(session, world, fresh_engine)
    assert msg.startswith(f"share {world.share.id} expired at") and row.detail["code"] == "expired"
    assert row.share_id == world.share.id


def test_revoked_share_is_refused(session: Any, world: Any, fresh_engine: Any) -> None:
    from geo.access.shares import revoke_share

    revoke_share(session, share=world.share, by=world.operator, reason="case closed")
    msg, _ = _refused(session, world, fresh_engine, action="live", live=True)
    assert f"share {world.share.id} was revoked" in msg


def test_other_agencys_share_is_refused(session: Any, world: Any, fresh_engine: Any) -> None:
    agency_share = create_share(
        session,
        kind="push",
        granted_by=world.operator,
        to_agency=world.officer.agency,
        camera_ids=[world.cams[2]],
        reason="push to Yuseong police",
        live=True,
    )
    # a colleague of the same agency may use it, live
    assert (
        _gate(
            session, world, user=world.colleague, camera_id=world.cams[2], live=True, action="live"
        ).id
        == agency_share.id
    )
    # another agency's officer may not, nor may they use the officer's personal share
    msg, _ = _refused(
        session,
        world,
        fresh_engine,
        user=world.stranger,
        camera_id=world.cams[2],
        live=True,
        action="live",
    )
    assert "no share grants camera" in msg
    msg, row = _refused(session, world, fresh_engine, user=world.stranger, share_id=world.share.id)
    assert "granted to another user or agency" in msg and row.detail["code"] == "recipient"
    # the colleague cannot use a share granted to the officer personally
    _refused(session, world, fresh_engine, user=world.colleague)


def test_camera_not_in_share_is_refused(session: Any, world: Any, fresh_engine: Any) -> None:
    msg, _ = _refused(session, world, fresh_engine, camera_id=world.cams[2])
    assert f"no share grants camera {world.cams[2]}" in msg
    msg, _ = _refused(
        session, world, fresh_engine, camera_id=world.cams[2], share_id=world.share.id
    )
    assert f"camera {world.cams[2]} is not in share {world.share.id}" in msg


def test_time_outside_window_is_refused(session: Any, world: Any, fresh_engine: Any) -> None:
    late = world.share.past_end + dt.timedelta(minutes=1)
    msg, row = _refused(session, world, fresh_engine, start=world.t0, end=late)
    assert "is outside share" in msg and row.detail["code"] == "window"
    early = world.share.past_start - dt.timedelta(seconds=1)
    _refused(session, world, fresh_engine, start=early, end=world.t0)


def test_live_needs_a_live_share(session: Any, world: Any, fresh_engine: Any) -> None:
    world.share.live = False
    session.flush()
    msg, _ = _refused(session, world, fresh_engine, live=True, action="live")
    assert "does not include live view" in msg


def test_bad_window_is_invalid_input(session: Any, world: Any) -> None:
    with pytest.raises(InvalidInput) as e:
        _gate(session, world, start=None)
    assert e.value.field == "start"
    with pytest.raises(InvalidInput) as e:
        _gate(session, world, start=world.t1, end=world.t0)
    assert e.value.field == "start"
    with pytest.raises(NotFound):
        _gate(session, world, camera_id=999_999_999)


def test_operator_monitors_live_but_needs_a_share_for_recordings(
    session: Any, world: Any, fresh_engine: Any
) -> None:
    mon = _gate(session, world, user=world.operator, live=True, action="live")
    assert mon.id is None and mon.kind == "monitoring" and mon.face_blur is False
    row = session.execute(
        text("select detail from audit_log where username = 'sh_operator' and action = 'view'")
    ).one()
    assert row.detail["monitoring"] is True
    msg, _ = _refused(session, world, fresh_engine, user=world.operator)
    assert "may only monitor live" in msg
    # the operator's live view is still bound to a registered address
    _refused(
        session,
        world,
        fresh_engine,
        user=world.operator,
        live=True,
        action="live",
        client_ip="198.51.100.1",
    )


def test_authorize_share_rules(session: Any, world: Any, fresh_engine: Any) -> None:
    assert (
        authorize_share(
            session, user=world.officer, client_ip="127.0.0.1", share_id=world.share.id
        ).id
        == world.share.id
    )
    with pytest.raises(Forbidden):
        authorize_share(
            session, user=world.stranger, client_ip="127.0.0.1", share_id=world.share.id
        )
    with pytest.raises(NotFound):
        authorize_share(session, user=world.officer, client_ip="127.0.0.1", share_id=987654321)


# --- the HTTP endpoints -------------------------------------------------------------------------


def test_list_and_open_shares(world: Any, auth_client: Any, session: Any) -> None:
    c = auth_client(world.officer)
    body = c.get("/api/shares").json()
    assert [s["id"] for s in body["shares"]] == [world.share.id] and body["active"] == 1
    s = body["shares"][0]
    assert s["status"] == "active" and s["camera_ids"] == world.cams[:2]
    assert s["cameras"][0]["links"]["live"] == f"/api/cameras/{world.cams[0]}/live.mjpg"
    r = c.get(f"/api/shares/{world.share.id}")
    assert r.status_code == 200 and r.json()["reason"] == "accident TEST-SH-1"
    opened = session.execute(
        text(
            "select count(*) from audit_log where username = 'sh_officer' and action = 'view' "
            "and detail->>'access' = 'share_open'"
        )
    ).scalar_one()
    assert opened == 1
    assert auth_client(world.stranger).get("/api/shares").json()["shares"] == []


def test_expired_or_revoked_share_opens_nothing(
    world: Any, auth_client: Any, session: Any, fresh_engine: Any
) -> None:
    c = auth_client(world.officer)
    now = dt.datetime.now(dt.UTC)
    world.share.granted_at = now - dt.timedelta(hours=30)
    world.share.expires_at = now - dt.timedelta(hours=6)
    session.flush()
    before = _max_audit_id(fresh_engine)
    r = c.get(f"/api/shares/{world.share.id}")
    assert r.status_code == 403 and "expired" in r.json()["detail"]["message"]
    assert [x.action for x in _audit_since(fresh_engine, before)] == ["denied"]
    listed = c.get("/api/shares").json()
    assert listed["shares"][0]["status"] == "expired" and listed["active"] == 0
    assert c.get("/api/shares", params={"status": "active"}).json()["shares"] == []


def test_revoke_endpoint(world: Any, auth_client: Any) -> None:
    stranger = auth_client(world.stranger)
    r = stranger.post(f"/api/shares/{world.share.id}/revoke", json={"reason": "mine now"})
    assert r.status_code == 403
    op = auth_client(world.operator)
    r = op.post(f"/api/shares/{world.share.id}/revoke", json={"reason": "case closed"})
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert op.post(f"/api/shares/{world.share.id}/revoke").status_code == 409
    r = auth_client(world.officer).get(f"/api/shares/{world.share.id}")
    assert r.status_code == 403 and "revoked" in r.json()["detail"]["message"]
    assert auth_client(world.officer).get("/api/shares/424242").status_code == 404


def test_operator_pushes_a_share_to_an_agency(world: Any, auth_client: Any) -> None:
    op = auth_client(world.operator)
    iid = world.incident["id"]
    r = op.post(
        f"/api/incidents/{iid}/shares",
        json={
            "to_agency": "Daejeon Yuseong Police",
            "camera_ids": [world.cams[2]],
            "reason": "fight in progress, pushed by the centre",
        },
    )
    assert r.status_code == 201, r.text
    pushed = r.json()
    assert pushed["granted_to_agency"] == "Daejeon Yuseong Police" and pushed["face_blur"] is True
    assert pushed["kind"] == "push" and pushed["window"]["start"] is not None
    colleague = auth_client(world.colleague)
    assert pushed["id"] in [s["id"] for s in colleague.get("/api/shares").json()["shares"]]
    assert colleague.get(f"/api/shares/{pushed['id']}").status_code == 200
    assert auth_client(world.stranger).get(f"/api/shares/{pushed['id']}").status_code == 403
    # officers cannot push; pushes need a reason and exactly one recipient
    r = auth_client(world.officer).post(
        f"/api/incidents/{iid}/shares", json={"to_user": "sh_stranger", "reason": "x"}
    )
    assert r.status_code == 403
    r = op.post(f"/api/incidents/{iid}/shares", json={"to_agency": "Daejeon Yuseong Police"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "reason"
    r = op.post(f"/api/incidents/{iid}/shares", json={"reason": "x"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "to_user"
    r = op.post(f"/api/incidents/{iid}/shares", json={"to_agency": "Nobody", "reason": "x"})
    assert r.status_code == 404 and r.json()["detail"]["field"] == "agency"
    # without camera ids, the k best cameras at the incident are pushed
    r = op.post(
        f"/api/incidents/{iid}/shares", json={"to_user": "sh_stranger", "reason": "assist", "k": 3}
    )
    assert r.status_code == 201 and len(r.json()["camera_ids"]) == 3
