"""The gate on every route, written as the attacks of issue 11 (findings 5, 6, 8 and the audit
half of 10): unregistered addresses on non-video routes, tracing without a role or a case,
refused tokens that leave no trace (or flood the log), live streams outliving their share."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

CASE = {"case_number": "2026-777", "reason": "robbery suspect: where could he have gone"}


def denied_rows(session: Session, username: str | None, *, ip: str | None = None) -> list[Any]:
    q = "select action, reason, detail, camera_ids, client_ip, username from audit_log where "
    conds, params = [], {}
    if username is not None:
        conds.append("username = :u")
        params["u"] = username
    if ip is not None:
        conds.append("client_ip = :ip")
        params["ip"] = ip
    return list(
        session.execute(
            text(q + " and ".join(conds) + " and action = 'denied' order by id"), params
        ).mappings()
    )


def _road_point(session: Session) -> tuple[float, float]:
    lat, lon = session.execute(
        text(
            "select st_y(geom), st_x(geom) from road_nodes where st_y(geom) > 59 "
            "order by id limit 1"
        )
    ).one()
    return float(lat), float(lon)


# --- finding 8: the registered address on every authenticated route ------------------------------


def test_audit_export_from_an_unregistered_address_is_refused_and_audited(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    auditor = make_user("gate-auditor", role="auditor", agency=None, cidrs=["10.20.0.0/16"])
    outside = auth_client(auditor, ip="127.0.0.1")
    for params in ({"format": "csv"}, {}):
        r = outside.get("/api/audit", params=params)
        assert r.status_code == 403, r.text
        assert "127.0.0.1" in r.json()["detail"]["message"]
    rows = denied_rows(session, "gate-auditor")
    assert len(rows) == 2
    assert rows[0]["detail"]["code"] == "ip" and rows[0]["detail"]["access"] == "GET /api/audit"
    assert rows[0]["client_ip"] == "127.0.0.1"
    inside = auth_client(auditor, ip="10.20.3.4")
    assert inside.get("/api/audit", params={"format": "csv"}).status_code == 200


def test_admin_data_from_an_unregistered_address_is_refused_and_audited(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    cam = int(session.execute(text("select min(id) from cameras")).scalar_one())
    admin = make_user("gate-admin", role="admin", agency=None, cidrs=["10.21.0.0/16"])
    outside = auth_client(admin, ip="127.0.0.1")
    for path in (
        "/api/cameras",
        f"/api/cameras/{cam}",  # stream URLs: the recorders' credentials
        "/api/video/status",
        "/api/auth/me",
        "/api/shares",
        "/api/incidents",
    ):
        r = outside.get(path)
        assert r.status_code == 403, (path, r.status_code, r.text)
        assert r.json()["detail"]["detail"]["code"] == "ip"
    # the responders' hot path runs on the async reader: checked there too, no extra read
    r = outside.get("/api/cameras/nearest", params={"lat": 36.36, "lon": 127.34})
    assert r.status_code == 403
    rows = denied_rows(session, "gate-admin")
    assert len(rows) == 7 and all(r["detail"]["code"] == "ip" for r in rows)
    assert rows[1]["camera_ids"] == [cam]
    assert rows[-1]["detail"]["access"] == "GET /api/cameras/nearest"
    assert auth_client(admin, ip="10.21.0.9").get(f"/api/cameras/{cam}").status_code == 200


# --- finding 5: tracing needs the role, the address, a case and a reason; each call audited -----


def test_planner_tracing_a_person_is_refused_and_audited(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    lat, lon = _road_point(session)
    planner = auth_client(make_user("gate-planner", role="planner", agency=None))
    for path, body in (
        ("/api/reachable", {**CASE, "lat": lat, "lon": lon, "max_minutes": 5}),
        ("/api/reachable/map", {**CASE, "lat": lat, "lon": lon, "max_minutes": 5}),
        ("/api/routes", {**CASE, "from": {"lat": lat, "lon": lon}, "to": {"lat": lat, "lon": lon}}),
        (
            "/api/tracks",
            {
                **CASE,
                "sightings": [
                    {"camera_id": 1, "seen_at": "2026-05-01T14:02:00+03:00"},
                    {"camera_id": 2, "seen_at": "2026-05-01T14:09:00+03:00"},
                ],
            },
        ),
    ):
        r = planner.post(path, json=body)
        assert r.status_code == 403, (path, r.text)
    r = planner.get(
        "/api/tracks/map",
        params={**CASE, "sighting": ["1@2026-05-01T14:02:00+03:00", "2@2026-05-01T14:09:00+03:00"]},
    )
    assert r.status_code == 403
    rows = denied_rows(session, "gate-planner")
    assert len(rows) == 5
    assert {r["detail"]["access"] for r in rows} == {"trace"}
    assert {r["detail"]["code"] for r in rows} == {"role"}
    assert rows[3]["camera_ids"] == [1, 2]
    # no trace record for a refused call
    assert not session.execute(
        text("select 1 from audit_log where username = 'gate-planner' and action = 'trace'")
    ).all()


def test_investigator_without_a_case_or_reason_gets_a_422_naming_it(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    lat, lon = _road_point(session)
    inv = auth_client(make_user("gate-inv-nocase", role="investigator"))
    base = {"lat": lat, "lon": lon, "max_minutes": 5}
    r = inv.post("/api/reachable", json={**base, "reason": CASE["reason"]})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "case_number"
    r = inv.post("/api/reachable", json={**base, "case_number": "2026-777"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "reason"
    r = inv.post("/api/reachable", json={**base, **CASE, "case_number": "2026\x00777"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "case_number"
    r = inv.get(
        "/api/tracks/map",
        params={"sighting": ["1@2026-05-01T14:02:00+03:00", "2@2026-05-01T14:09:00+03:00"]},
    )
    assert r.status_code == 422 and r.json()["detail"]["field"] in ("case_number", "reason")
    assert not session.execute(
        text("select 1 from audit_log where username = 'gate-inv-nocase'")
    ).all()


def test_tracing_is_audited_with_case_reason_cameras_and_mode(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    lat, lon = _road_point(session)
    inv = auth_client(make_user("gate-inv", role="investigator"))
    r = inv.post(
        "/api/reachable", json={**CASE, "lat": lat, "lon": lon, "max_minutes": 3, "mode": "walk"}
    )
    # the record is written (and committed) before the answer is computed: whether the road
    # network can answer is not the point here
    assert r.status_code in (200, 422), r.text
    a, b = session.execute(
        text("select id from cameras where st_y(geom) > 59 order by id limit 2")
    ).scalars()
    inv.post(
        "/api/tracks",
        json={
            **CASE,
            "mode": "drive",
            "sightings": [
                {"camera_id": b, "seen_at": "2026-05-01T14:02:00+03:00"},
                {"camera_id": a, "seen_at": "2026-05-01T14:30:00+03:00"},
            ],
        },
    )  # feasible or not, unreachable or not: the call is on the record
    rows = list(
        session.execute(
            text(
                "select case_number, reason, camera_ids, detail from audit_log "
                "where username = 'gate-inv' and action = 'trace' order by id"
            )
        ).mappings()
    )
    assert len(rows) == 2
    assert rows[0]["case_number"] == "2026-777" and rows[0]["reason"] == CASE["reason"]
    assert rows[0]["detail"]["kind"] == "reachable" and rows[0]["detail"]["mode"] == "walk"
    assert rows[1]["camera_ids"] == sorted([a, b]) and rows[1]["detail"]["mode"] == "drive"


# --- finding 10 (audit half): 401s audited with the name tried and the address, bounded ---------


def _forged(sub: str) -> str:
    now = int(time.time())
    claims = {"sub": sub, "uid": 1, "iss": "goldentime", "iat": now, "exp": now + 3600}
    return jwt.encode(claims, "attacker-key-0123456789abcdef0123456789", algorithm="HS256")


def test_refused_tokens_are_audited_with_the_name_tried_and_bounded(
    session: Session, auth_client: Any, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geo.settings import get_settings

    monkeypatch.setattr(get_settings(), "refusal_audit_max", 3)
    ip = "10.77.0.1"
    attacker = auth_client(None, ip=ip)
    for _ in range(8):  # a flood of forged tokens
        r = attacker.get("/api/audit", headers={"Authorization": f"Bearer {_forged('mallory')}"})
        assert r.status_code == 401
    r = attacker.get("/api/incidents")  # no token at all
    assert r.status_code == 401
    rows = denied_rows(session, None, ip=ip)
    assert len(rows) == 3  # the budget of this address and minute, then silence
    assert all(r["username"] == "mallory" and r["detail"]["code"] == "token" for r in rows)
    assert "invalid token" in rows[0]["reason"] and rows[0]["detail"]["access"] == "GET /api/audit"
    # the minute passes (moved back in the counter, not waited for): one summary row, then the
    # next refusal's own row
    with engine.begin() as c:
        c.execute(
            text(
                "update rate_counters set first_at = first_at - interval '2 minutes' "
                "where scope = 'refusal' and key = :ip"
            ),
            {"ip": ip},
        )
    attacker.get("/api/shares", headers={"Authorization": f"Bearer {_forged('=cmd|x')}"})
    rows = denied_rows(session, None, ip=ip)
    assert len(rows) == 5
    assert rows[3]["detail"]["code"] == "suppressed" and rows[3]["detail"]["suppressed"] == 6
    assert "suppressed 6 more" in rows[3]["reason"]
    assert rows[4]["username"] == "=cmd|x"


def test_disabled_user_and_expired_token_401s_are_audited(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    from geo.access.tokens import create_token
    from geo.access.users import set_disabled

    u = make_user("gate-disabled", role="police")
    c = auth_client(u, ip="10.78.0.1")
    set_disabled(session, "gate-disabled")
    assert c.get("/api/cameras").status_code == 401
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=10)
    u2 = make_user("gate-expired", role="police")
    tok, _ = create_token(u2, ttl_s=60, now=old)
    r = auth_client(None, ip="10.78.0.2").get(
        "/api/cameras", headers={"Authorization": f"Bearer {tok}"}
    )
    assert r.status_code == 401
    (d,) = denied_rows(session, "gate-disabled")
    assert "disabled" in d["reason"] and d["client_ip"] == "10.78.0.1"
    (e,) = denied_rows(session, "gate-expired")
    assert e["reason"] == "token expired" and e["client_ip"] == "10.78.0.2"


# --- finding 6: a live stream ends within seconds of revoke or disable ---------------------------


@pytest.fixture
def live_camera(engine: Any, sample_loaded: Any) -> Iterator[dict[str, Any]]:
    """A committed camera with the looping demo source, an operator, an officer and a live share
    (the live server sees committed data only); the camera's source is removed afterwards."""
    from geo.access.shares import create_share
    from geo.access.tokens import create_token
    from geo.access.users import create_user
    from geo.db import session_scope
    from geo.video.sources import demo_stream_url

    tag = uuid.uuid4().hex[:8]
    with session_scope() as s:
        cam = int(
            s.execute(
                text("select min(id) from cameras where purpose = 'crime_prevention'")
            ).scalar_one()
        )
        s.execute(
            text("update cameras set stream_url = :u where id = :c"),
            {"u": demo_stream_url(), "c": cam},
        )
        users = {
            role: create_user(
                s,
                username=f"gate-live-{role}-{tag}",
                password=f"pw-{tag}",
                role=role,
                agency="Daejeon CCTV Centre" if role == "operator" else "Daejeon Yuseong Police",
                cidrs=["127.0.0.1/32"],
            )
            for role in ("operator", "police")
        }
        share = create_share(
            s,
            kind="push",
            granted_by=users["operator"],
            to_user=users["police"],
            camera_ids=[cam],
            reason="case 2026-777 live",
        )
        s.flush()
        out = {
            "cam": cam,
            "share_id": share.id,
            "names": {r: u.username for r, u in users.items()},
            "tokens": {r: create_token(u)[0] for r, u in users.items()},
        }
    try:
        yield out
    finally:
        with session_scope() as s:
            s.execute(text("update cameras set stream_url = null where id = :c"), {"c": cam})


def _stream_until_cut(url: str, token: str, cut: Any) -> tuple[int, bool]:
    """Open the stream, read some frames, call ``cut()``, then read on; returns (bytes read
    after the cut, whether the stream ended by itself). Fails when it runs 10 s past the cut."""
    with (
        httpx.Client(timeout=10) as http,
        http.stream(
            "GET", url, params={"max_s": 120}, headers={"Authorization": f"Bearer {token}"}
        ) as r,
    ):
        assert r.status_code == 200, r.read()
        chunks = r.iter_raw()
        got = 0
        while got < 20_000:  # a few frames first
            got += len(next(chunks))
        cut()
        after, deadline = 0, time.monotonic() + 10  # 'never ends' guard, not a speed check
        for chunk in chunks:
            after += len(chunk)
            if time.monotonic() > deadline:
                return after, False
        return after, True


def test_revoked_share_ends_a_running_live_stream(
    live_server: str, live_camera: dict[str, Any], engine: Any
) -> None:
    from geo.access.shares import revoke_share
    from geo.access.users import get_user
    from geo.db import session_scope
    from geo.models.access import Share

    def revoke() -> None:
        with session_scope() as s:
            share = s.get(Share, live_camera["share_id"])
            op = get_user(s, live_camera["names"]["operator"])
            revoke_share(s, share=share, by=op, reason="case closed")

    url = f"{live_server}/api/cameras/{live_camera['cam']}/live.mjpg"
    _after, ended = _stream_until_cut(url, live_camera["tokens"]["police"], revoke)
    assert ended, "the stream went on after its share was revoked"
    with engine.connect() as c:
        reason = c.execute(
            text(
                "select reason from audit_log where username = :u and action = 'denied' "
                "and detail->>'code' = 'stream_ended'"
            ),
            {"u": live_camera["names"]["police"]},
        ).scalar_one()
    assert "revoked" in reason


def test_disabled_operator_live_monitoring_ends(
    live_server: str, live_camera: dict[str, Any], engine: Any
) -> None:
    from geo.access.users import set_disabled
    from geo.db import session_scope

    def disable() -> None:
        with session_scope() as s:
            set_disabled(s, live_camera["names"]["operator"])

    url = f"{live_server}/api/cameras/{live_camera['cam']}/live.mjpg"
    _after, ended = _stream_until_cut(url, live_camera["tokens"]["operator"], disable)
    assert ended, "the monitoring stream went on after its user was disabled"
