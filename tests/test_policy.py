"""What a request may grant, the approval loop and who may change an incident, as the attacks.

Issue 11 findings 2 (an officer granted themselves a window 2000..2030 with a 29-day expiry) and
7 (any officer could close any incident; fire users requested video on police incidents).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from geo.access.gate import authorize_video
from geo.access.policy import evaluate_request, span
from geo.errors import Forbidden

YUSEONG = {"lat": 36.3622, "lon": 127.3566}


def _max_audit_id(engine: Any) -> int:
    with engine.connect() as c:
        return int(c.execute(text("select coalesce(max(id), 0) from audit_log")).scalar_one())


def _denied_since(engine: Any, last_id: int) -> list[Any]:
    """Committed ``denied`` records after ``last_id`` (the gate commits them itself)."""
    with engine.connect() as c:
        return c.execute(
            text("select * from audit_log where id > :i and action = 'denied' order by id"),
            {"i": last_id},
        ).all()


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat()


@pytest.fixture
def w(make_user: Any, auth_client: Any) -> SimpleNamespace:
    """An officer's police incident 10 minutes ago, and the people around it."""
    x = SimpleNamespace()
    x.officer = make_user("pol_officer", role="police", agency="Daejeon Yuseong Police")
    x.colleague = make_user("pol_colleague", role="police", agency="Daejeon Yuseong Police")
    x.other = make_user("pol_other", role="police", agency="Daejeon Jung Police")
    x.fire = make_user("pol_fire", role="fire", agency="Yuseong Fire")
    x.op = make_user("pol_op", role="operator", agency="Yuseong CCTV centre")
    x.op2 = make_user("pol_op2", role="operator", agency="Yuseong CCTV centre")
    x.c = {n: auth_client(getattr(x, n)) for n in ("officer", "colleague", "other", "fire", "op")}
    x.c["op2"] = auth_client(x.op2)
    x.occurred = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).replace(microsecond=0)
    r = x.c["officer"].post(
        "/api/incidents",
        json={
            "kind": "police",
            "priority": 2,
            "case_number": "POL-1",
            "occurred_at": _iso(x.occurred),
            **YUSEONG,
        },
    )
    assert r.status_code == 201, r.text
    x.iid = r.json()["id"]
    return x


def _request(w: SimpleNamespace, who: str = "officer", **body: Any) -> Any:
    return w.c[who].post(f"/api/incidents/{w.iid}/video-requests", json=body)


def _clip(session: Any, user: Any, share: dict[str, Any], start: Any, end: Any) -> Any:
    return authorize_video(
        session,
        user=user,
        client_ip="127.0.0.1",
        camera_id=share["camera_ids"][0],
        action="clip",
        start=start,
        end=end,
    )


# --- finding 2: a request beyond policy is not granted ------------------------------------------


def test_window_2000_to_2030_with_29_day_expiry_is_pending_and_opens_nothing(
    w: SimpleNamespace, session: Any, fresh_engine: Any
) -> None:
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=29)
    r = _request(
        w,
        start="2000-01-01T00:00:00+00:00",
        end="2030-01-01T00:00:00+00:00",
        expires_at=_iso(expires),
    )
    assert r.status_code == 202, r.text
    body = r.json()
    share = body["share"]
    assert share["status"] == "awaiting_approval" and share["approval"] == "pending"
    assert body["approval"] == "pending"
    reasons = body["decision"]["reasons"]
    assert any(x.startswith("window starts ") and x.endswith("(policy: 2 h)") for x in reasons)
    assert any("in the future" in x for x in reasons)
    assert "share would last 29 days (policy: at most 24 h)" in reasons
    assert set(body["decision"]["fields"]) == {"start", "end", "expires_at"}
    assert share["policy_reasons"] == reasons

    # nothing opens: not the share, not a clip inside the asked window, not live
    before = _max_audit_id(fresh_engine)
    r = w.c["officer"].get(f"/api/shares/{share['id']}")
    assert r.status_code == 403
    assert r.json()["detail"]["message"].startswith(f"share {share['id']} is awaiting approval")
    t = dt.datetime(2010, 5, 1, tzinfo=dt.UTC)
    with pytest.raises(Forbidden) as e:
        _clip(session, w.officer, share, t, t + dt.timedelta(minutes=5))
    assert "awaiting approval" in e.value.message
    with pytest.raises(Forbidden):
        authorize_video(
            session,
            user=w.officer,
            client_ip="127.0.0.1",
            camera_id=share["camera_ids"][0],
            action="live",
            live=True,
        )
    denied = _denied_since(fresh_engine, before)
    assert len(denied) == 3 and {d.detail["code"] for d in denied} == {"awaiting_approval"}
    assert w.c["officer"].get("/api/shares", params={"status": "active"}).json()["shares"] == []
    waiting = w.c["officer"].get("/api/shares", params={"status": "awaiting_approval"}).json()
    assert [s["id"] for s in waiting["shares"]] == [share["id"]]

    # the request itself is on record, with why it is pending
    row = session.execute(
        text("select detail from audit_log where action = 'video_request' and share_id = :s"),
        {"s": share["id"]},
    ).one()
    assert row.detail["approval"] == "pending" and row.detail["policy_reasons"] == reasons

    # an approver cannot wave through a window that ends in the future
    r = w.c["op"].post(f"/api/video-requests/{share['id']}/approve", json={"reason": "ok"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "end"


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ("start", "window starts 25 h before the incident (policy: 2 h)"),
        ("end", "window ends 2 h after the incident (policy: 1 h)"),
        ("expires_at", "share would last 29 days (policy: at most 24 h)"),
        ("k", "30 cameras requested (policy: at most 10)"),
    ],
)
def test_each_cap_alone_makes_a_request_pending(
    w: SimpleNamespace, field: str, reason: str
) -> None:
    # the incident 3 h ago, so that a window ending 2 h after it is still in the past
    occurred = w.occurred - dt.timedelta(hours=3)
    r = w.c["officer"].patch(f"/api/incidents/{w.iid}", json={"occurred_at": _iso(occurred)})
    assert r.status_code == 200, r.text
    req: dict[str, Any] = {
        "start": {"start": _iso(occurred - dt.timedelta(hours=25)), "end": _iso(occurred)},
        "end": {"start": _iso(occurred), "end": _iso(occurred + dt.timedelta(hours=2))},
        "expires_at": {
            "expires_at": _iso(dt.datetime.now(dt.UTC) + dt.timedelta(days=29, minutes=1))
        },
        "k": {"k": 30},
    }[field]
    r = _request(w, **req)
    assert r.status_code == 202, r.text
    assert r.json()["decision"]["fields"] == [field]
    assert r.json()["decision"]["reasons"] == [reason]


def test_within_policy_is_granted_at_once(w: SimpleNamespace, session: Any) -> None:
    r = _request(
        w,
        start=_iso(w.occurred - dt.timedelta(hours=2)),
        end=_iso(w.occurred + dt.timedelta(minutes=5)),
        expires_at=_iso(dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)),
        k=10,
    )
    assert r.status_code == 201, r.text
    share = r.json()["share"]
    assert share["status"] == "active" and share["approval"] == "auto"
    assert r.json()["decision"]["reasons"] == []
    got = _clip(
        session,
        w.officer,
        share,
        w.occurred - dt.timedelta(hours=1),
        w.occurred - dt.timedelta(minutes=50),
    )
    assert got.id == share["id"]


def test_approval_opens_exactly_the_approved_window(
    w: SimpleNamespace, session: Any, fresh_engine: Any
) -> None:
    asked_start, asked_end = w.occurred - dt.timedelta(hours=6), w.occurred
    r = _request(w, start=_iso(asked_start), end=_iso(asked_end))
    assert r.status_code == 202, r.text
    sid = r.json()["share"]["id"]

    # the supervisor's queue names the request and why it waits
    queue = w.c["op"].get("/api/video-requests").json()
    mine = [s for s in queue["requests"] if s["id"] == sid]
    assert mine and mine[0]["policy_reasons"] == [
        "window starts 6 h before the incident (policy: 2 h)"
    ]
    assert queue["policy"]["window_before_incident_s"] == 7200
    # officers may not see the queue, nor approve anything (their own request least of all)
    before = _max_audit_id(fresh_engine)
    assert w.c["officer"].get("/api/video-requests").status_code == 403
    r = w.c["officer"].post(f"/api/video-requests/{sid}/approve", json={"reason": "mine"})
    assert r.status_code == 403
    assert [d.detail["code"] for d in _denied_since(fresh_engine, before)] == ["role", "role"]

    # an approval may narrow, never widen
    r = w.c["op"].post(
        f"/api/video-requests/{sid}/approve",
        json={"reason": "x", "start": _iso(asked_start - dt.timedelta(minutes=1))},
    )
    assert r.status_code == 422 and r.json()["detail"]["field"] == "start"
    assert w.c["op"].post(f"/api/video-requests/{sid}/approve", json={}).status_code == 422

    g_start, g_end = w.occurred - dt.timedelta(hours=4), w.occurred - dt.timedelta(hours=3)
    r = w.c["op"].post(
        f"/api/video-requests/{sid}/approve",
        json={
            "reason": "robbery suspect seen at 4 h before",
            "start": _iso(g_start),
            "end": _iso(g_end),
        },
    )
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["status"] == "active" and s["approval"] == "approved" and s["approved_by"] == "pol_op"
    assert s["window"] == {"start": _iso(g_start), "end": _iso(g_end)}
    assert s["approval_reason"] == "robbery suspect seen at 4 h before"

    share = {"camera_ids": s["camera_ids"]}
    assert _clip(session, w.officer, share, g_start, g_end).id == sid
    for a, b in (
        (
            g_start - dt.timedelta(seconds=1),
            g_start + dt.timedelta(minutes=1),
        ),  # asked, not approved
        (g_end - dt.timedelta(minutes=1), g_end + dt.timedelta(seconds=1)),
        (asked_end - dt.timedelta(minutes=5), asked_end),
    ):
        with pytest.raises(Forbidden) as e:
            _clip(session, w.officer, share, a, b)
        assert "is outside share" in e.value.message

    row = session.execute(
        text("select * from audit_log where action = 'request_approve' and share_id = :s"),
        {"s": sid},
    ).one()
    assert row.username == "pol_op" and row.reason == "robbery suspect seen at 4 h before"
    assert row.detail["requested_by"] == "pol_officer"
    assert row.detail["requested"]["start"] == asked_start.isoformat()
    assert row.window_start == g_start and row.window_end == g_end
    # decided once
    r = w.c["op2"].post(f"/api/video-requests/{sid}/refuse", json={"reason": "late"})
    assert r.status_code == 409 and r.json()["detail"]["field"] == "share_id"


def test_refusal_opens_nothing(w: SimpleNamespace, session: Any, fresh_engine: Any) -> None:
    r = _request(w, expires_at=_iso(dt.datetime.now(dt.UTC) + dt.timedelta(days=29)))
    assert r.status_code == 202
    share = r.json()["share"]
    sid = share["id"]
    r = w.c["op"].post(f"/api/video-requests/{sid}/refuse", json={"reason": " "})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "reason"
    r = w.c["op"].post(f"/api/video-requests/{sid}/refuse", json={"reason": "no legal basis"})
    assert r.status_code == 200 and r.json()["status"] == "refused"
    r = w.c["officer"].get(f"/api/shares/{sid}")
    assert r.status_code == 403 and "refused" in r.json()["detail"]["message"]
    t = w.occurred - dt.timedelta(minutes=20)
    with pytest.raises(Forbidden) as e:
        _clip(session, w.officer, share, t, t + dt.timedelta(minutes=1))
    assert "was refused by its approver: no legal basis" in e.value.message
    r = w.c["op2"].post(f"/api/video-requests/{sid}/approve", json={"reason": "overrule"})
    assert r.status_code == 409
    row = session.execute(
        text(
            "select username, reason from audit_log where action = 'request_refuse' "
            "and share_id = :s"
        ),
        {"s": sid},
    ).one()
    assert tuple(row) == ("pol_op", "no legal basis")
    refused = w.c["op"].get("/api/video-requests?status=refused").json()["requests"]
    assert sid in [x["id"] for x in refused]  # (other tests' committed refusals may be listed)


def test_an_approver_cannot_approve_their_own_request(
    w: SimpleNamespace, session: Any, fresh_engine: Any
) -> None:
    """The role table keeps requesters and approvers apart today; the gate refuses anyway."""
    from geo.access.shares import create_share

    cams = list(session.execute(text("select id from cameras order by id limit 2")).scalars())
    own = create_share(
        session,
        kind="request",
        granted_by=w.op,
        to_user=w.op,
        camera_ids=cams,
        reason="operator's own look",
        incident_id=w.iid,
        past_start=w.occurred - dt.timedelta(hours=8),
        past_end=w.occurred,
        approval="pending",
        policy_reasons=["window starts 8 h before the incident (policy: 2 h)"],
    )
    before = _max_audit_id(fresh_engine)
    r = w.c["op"].post(f"/api/video-requests/{own.id}/approve", json={"reason": "fine by me"})
    assert r.status_code == 403 and "own request" in r.json()["detail"]["message"]
    denied = _denied_since(fresh_engine, before)
    assert [(d.username, d.detail["code"], d.share_id) for d in denied] == [
        ("pol_op", "self", own.id)
    ]
    r = w.c["op2"].post(f"/api/video-requests/{own.id}/approve", json={"reason": "checked"})
    assert r.status_code == 200 and r.json()["approved_by"] == "pol_op2"


# --- finding 7: incidents changed only by their agency or the centre ----------------------------


def test_fire_user_on_a_police_incident_is_refused_until_shared(
    w: SimpleNamespace, fresh_engine: Any
) -> None:
    before = _max_audit_id(fresh_engine)
    r = _request(w, who="fire")
    assert (
        r.status_code == 403 and "not shared with 'Yuseong Fire'" in r.json()["detail"]["message"]
    )
    # nor may the fire user share it with themselves
    r = w.c["fire"].post(f"/api/incidents/{w.iid}/share-with", json={"agency": "Yuseong Fire"})
    assert r.status_code == 403
    denied = _denied_since(fresh_engine, before)
    assert [(d.username, d.detail["code"], d.incident_id) for d in denied] == [
        ("pol_fire", "agency", w.iid),
        ("pol_fire", "agency", w.iid),
    ]
    r = w.c["officer"].post(
        f"/api/incidents/{w.iid}/share-with",
        json={"agency": "Yuseong Fire", "reason": "fire at the scene"},
    )
    assert r.status_code == 200 and r.json()["shared_with"] == ["Yuseong Fire"]
    assert _request(w, who="fire").status_code == 201
    # another police station still cannot
    assert _request(w, who="other").status_code == 403
    r = w.c["officer"].post(f"/api/incidents/{w.iid}/share-with", json={"agency": "Nowhere"})
    assert r.status_code == 404 and r.json()["detail"]["field"] == "agency"


def test_another_station_cannot_close_the_incident_the_centre_can(
    w: SimpleNamespace, session: Any, fresh_engine: Any
) -> None:
    before = _max_audit_id(fresh_engine)
    r = w.c["other"].patch(f"/api/incidents/{w.iid}", json={"status": "closed"})
    assert r.status_code == 403
    assert "belongs to 'Daejeon Yuseong Police'" in r.json()["detail"]["message"]
    r = w.c["fire"].patch(f"/api/incidents/{w.iid}", json={"description": "mine now"})
    assert r.status_code == 403
    denied = _denied_since(fresh_engine, before)
    assert [(d.username, d.detail["code"]) for d in denied] == [
        ("pol_other", "agency"),
        ("pol_fire", "agency"),
    ]
    assert w.c["officer"].get(f"/api/incidents/{w.iid}").json()["properties"]["status"] == "open"
    # a colleague of the owning station may change it, the centre may close it
    r = w.c["colleague"].patch(f"/api/incidents/{w.iid}", json={"description": "suspect fled"})
    assert r.status_code == 200
    r = w.c["op"].patch(f"/api/incidents/{w.iid}", json={"status": "closed"})
    assert r.status_code == 200 and r.json()["properties"]["status"] == "closed"
    rows = session.execute(
        text(
            "select username from audit_log where action = 'incident_update' and incident_id = :i"
        ),
        {"i": w.iid},
    ).scalars()
    assert list(rows) == ["pol_colleague", "pol_op"]


def test_owner_from_an_unregistered_address_cannot_change_it(
    w: SimpleNamespace, auth_client: Any, fresh_engine: Any
) -> None:
    before = _max_audit_id(fresh_engine)
    r = auth_client(w.officer, ip="203.0.113.5").patch(
        f"/api/incidents/{w.iid}", json={"status": "closed"}
    )
    assert r.status_code == 403 and "203.0.113.5" in r.json()["detail"]["message"]
    assert [d.detail["code"] for d in _denied_since(fresh_engine, before)] == ["ip"]


def test_centre_owned_incidents(w: SimpleNamespace, session: Any) -> None:
    """Loaded and legacy incidents (no agency) belong to the centre."""
    from geo.incidents import create_incident

    legacy = create_incident(session, kind="traffic", **YUSEONG)
    assert legacy["agency_id"] is None
    r = w.c["officer"].patch(f"/api/incidents/{legacy['id']}", json={"description": "x"})
    assert r.status_code == 403 and "the control centre" in r.json()["detail"]["message"]
    r = w.c["officer"].post(f"/api/incidents/{legacy['id']}/video-requests")
    assert r.status_code == 403
    r = w.c["op"].post(
        f"/api/incidents/{legacy['id']}/share-with", json={"agency": "Daejeon Yuseong Police"}
    )
    assert r.status_code == 200
    assert w.c["colleague"].post(f"/api/incidents/{legacy['id']}/video-requests").status_code == 201


def test_live_view_ends_when_the_incident_is_closed(w: SimpleNamespace, session: Any) -> None:
    share = _request(w).json()["share"]
    cam = share["camera_ids"][0]
    kw = {"user": w.officer, "client_ip": "127.0.0.1", "camera_id": cam}
    assert authorize_video(session, action="live", live=True, **kw).id == share["id"]
    assert w.c["officer"].patch(f"/api/incidents/{w.iid}", json={"status": "closed"}).is_success
    with pytest.raises(Forbidden) as e:
        authorize_video(session, action="live", live=True, **kw)
    assert "live view ended when incident" in e.value.message
    # the recorded window stays open until the share expires
    t = w.occurred - dt.timedelta(minutes=20)
    assert authorize_video(session, action="clip", start=t, end=t + dt.timedelta(minutes=1), **kw)


def test_push_beyond_policy_is_refused(w: SimpleNamespace) -> None:
    url = f"/api/incidents/{w.iid}/shares"
    base = {"to_agency": "Daejeon Yuseong Police", "reason": "assist", "k": 2}
    r = w.c["op"].post(
        url, json={**base, "expires_at": _iso(dt.datetime.now(dt.UTC) + dt.timedelta(days=29))}
    )
    assert r.status_code == 422 and r.json()["detail"]["field"] == "expires_at"
    r = w.c["op"].post(url, json={**base, "start": "2000-01-01T00:00:00Z", "end": _iso(w.occurred)})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "start"
    assert "policy: 2 h" in r.json()["detail"]["message"]
    assert w.c["op"].post(url, json=base).status_code == 201


# --- automation rules ---------------------------------------------------------------------------


@pytest.fixture
def no_p1_rule(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from geo.settings import get_settings

    monkeypatch.setenv("GOLDENTIME_POLICY_RULE_P1_POLICE_AUTO_REQUEST", "false")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _register(w: SimpleNamespace, who: str, **kw: Any) -> dict[str, Any]:
    body = {"kind": "police", "priority": 1, **YUSEONG, **kw}
    r = w.c[who].post("/api/incidents", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_p1_police_incident_makes_its_video_request_on_registration(
    w: SimpleNamespace, session: Any
) -> None:
    f = _register(w, "officer", case_number="P1-1")
    share = f["share"]
    assert share is not None and share["status"] == "active" and share["approval"] == "auto"
    assert share["granted_to_user"] == "pol_officer" and share["incident_id"] == f["id"]
    assert f["automation"][0]["rule"] == "p1_police_auto_request"
    row = session.execute(
        text(
            "select username, share_id, detail from audit_log where action = 'video_request' "
            "and incident_id = :i"
        ),
        {"i": f["id"]},
    ).one()
    assert row.username == "pol_officer" and row.share_id == share["id"]
    assert row.detail["automation"] == "p1_police_auto_request"
    assert w.c["officer"].get(f"/api/shares/{share['id']}").status_code == 200


@pytest.mark.parametrize(
    ("who", "kw"),
    [
        ("officer", {"priority": 2}),  # not priority 1
        ("officer", {"kind": "fire"}),  # not a police incident
        ("fire", {}),  # not registered by a police officer
        ("op", {}),  # the centre registers; it pushes instead
    ],
)
def test_auto_request_fires_for_priority_1_police_only(
    w: SimpleNamespace, session: Any, who: str, kw: dict[str, Any]
) -> None:
    f = _register(w, who, **kw)
    assert f["share"] is None and f["automation"] == []
    n = session.execute(
        text("select count(*) from shares where incident_id = :i"), {"i": f["id"]}
    ).scalar_one()
    assert n == 0


def test_auto_request_rule_can_be_switched_off(w: SimpleNamespace, no_p1_rule: None) -> None:
    f = _register(w, "officer")
    assert f["share"] is None and f["automation"] == []


# --- the policy function itself -----------------------------------------------------------------


def test_evaluate_request_numbers(w: SimpleNamespace) -> None:
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    inc = {"occurred_at": now - dt.timedelta(minutes=30), "status": "open"}

    def ev(**kw: Any) -> Any:
        args = {
            "incident": inc,
            "user": w.officer,
            "start": inc["occurred_at"] - dt.timedelta(minutes=30),
            "end": inc["occurred_at"],
            "live": True,
            "expires_at": now + dt.timedelta(hours=24),
            "k": 5,
            "now": now,
        }
        args.update(kw)
        return evaluate_request(**args)

    assert ev().within_policy
    assert ev(start=inc["occurred_at"] - dt.timedelta(hours=2)).within_policy
    assert not ev(start=inc["occurred_at"] - dt.timedelta(hours=2, seconds=1)).within_policy
    assert ev(end=now).within_policy  # 30 min after the incident, up to now
    assert ev(end=now + dt.timedelta(seconds=1)).fields == ["end"]
    assert not ev(expires_at=now + dt.timedelta(hours=24, seconds=1)).within_policy
    assert ev(k=10).within_policy and not ev(k=11).within_policy
    assert ev(incident={**inc, "status": "closed"}).fields == ["live"]
    assert ev(incident={**inc, "status": "closed"}, live=False).within_policy
    assert [span(x) for x in (45, 5400, 25 * 3600, 29 * 86400)] == [
        "45 s",
        "90 min",
        "25 h",
        "29 days",
    ]
