"""Token transport, written as the attacks: a bearer token in a URL, a media link replayed on
another camera, another kind of access or another route, a cross-site request riding the
session cookie."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.video.sources import demo_stream_url

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
PASSWORD = "test-password"


@pytest.fixture
def world(session: Session, make_user: Any, auth_client: Any) -> dict[str, Any]:
    """Two cameras with the demo source, an operator, an officer holding a share of the first
    (live + the past hour), and another officer."""
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
    op = make_user("mt-op", role="operator", agency="Daejeon CCTV Centre")
    officer = make_user("mt-officer")
    other = make_user("mt-other")
    share = create_share(
        session,
        kind="push",
        granted_by=op,
        to_user=officer,
        camera_ids=[cams[0]],
        reason="case 2026-202 robbery",
        past_start=NOW - dt.timedelta(hours=1),
        past_end=NOW,
    )
    return {
        "cams": cams,
        "op": op,
        "officer": officer,
        "other": other,
        "share": share,
        "client": auth_client(officer),
        "anon": auth_client(None),
        "auth_client": auth_client,
    }


def _mt(url: str) -> str:
    return parse_qs(urlsplit(url).query)["mt"][0]


def _denials(session: Session, username: str) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in session.execute(
            text(
                "select reason, detail, share_id, camera_ids from audit_log "
                "where username = :u and action = 'denied' order by id"
            ),
            {"u": username},
        ).mappings()
    ]


def test_bearer_token_in_the_query_string_is_refused(world: Any) -> None:
    from geo.access.tokens import create_token

    tok = create_token(world["officer"])[0]
    cam = world["cams"][0]
    for path in ("/api/auth/me", "/api/shares", f"/api/cameras/{cam}/snapshot.jpg"):
        r = world["anon"].get(path, params={"access_token": tok})
        assert r.status_code == 401, (path, r.text)


def test_share_links_are_media_links_that_open_without_a_header(
    session: Session, world: Any
) -> None:
    share, cam = world["share"], world["cams"][0]
    r = world["client"].get(f"/api/shares/{share.id}")
    assert r.status_code == 200, r.text
    links = r.json()["cameras"][0]["links"]
    assert set(links) == {"live", "snapshot", "clip"}
    assert all("mt=" in u for u in links.values())
    r = world["anon"].get(links["snapshot"])  # what an <img src> does: no header, no cookie
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    row = session.execute(
        text(
            "select share_id, camera_ids from audit_log where username = 'mt-officer' "
            "and action = 'view' and detail->>'access' = 'snapshot'"
        )
    ).one()
    assert row.share_id == share.id and row.camera_ids == [cam]
    # the live link streams too (bounded)
    with world["anon"].stream("GET", links["live"] + "&max_s=1") as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("multipart/x-mixed-replace")
        assert next(resp.iter_bytes()).startswith(b"--frame")


def test_fresh_links_for_the_recipient_only(session: Session, world: Any) -> None:
    share = world["share"]
    r = world["client"].get(f"/api/shares/{share.id}/links")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["share_id"] == share.id and "mt=" in body["cameras"][0]["links"]["live"]
    other = world["auth_client"](world["other"])
    r = other.get(f"/api/shares/{share.id}/links")
    assert r.status_code == 403, r.text
    assert _denials(session, "mt-other")[-1]["detail"]["code"] == "recipient"


def test_media_link_for_one_camera_does_not_open_another(session: Session, world: Any) -> None:
    a, b = world["cams"]
    r = world["client"].get(f"/api/shares/{world['share'].id}/links")
    mt = _mt(r.json()["cameras"][0]["links"]["snapshot"])
    r = world["anon"].get(f"/api/cameras/{b}/snapshot.jpg", params={"mt": mt})
    assert r.status_code == 403, r.text
    denied = _denials(session, "mt-officer")[-1]
    assert denied["detail"]["code"] == "media_token" and denied["camera_ids"] == [b]
    assert f"camera {a}" in denied["reason"]


def test_media_link_for_one_kind_does_not_open_another(session: Session, world: Any) -> None:
    cam = world["cams"][0]
    r = world["client"].get(f"/api/shares/{world['share'].id}/links")
    mt = _mt(r.json()["cameras"][0]["links"]["snapshot"])
    r = world["anon"].get(f"/api/cameras/{cam}/live.mjpg", params={"mt": mt, "max_s": 1})
    assert r.status_code == 403, r.text
    assert _denials(session, "mt-officer")[-1]["detail"]["code"] == "media_token"


def test_media_token_is_refused_on_every_other_route(world: Any) -> None:
    from geo.access.tokens import create_media_token

    cam, share = world["cams"][0], world["share"]
    mt = create_media_token(world["officer"], camera_id=cam, share_id=share.id, kind="snapshot")[0]
    anon = world["anon"]
    for path in ("/api/auth/me", "/api/shares", f"/api/shares/{share.id}", "/api/cameras"):
        assert anon.get(path, params={"mt": mt}).status_code == 401, path
    # nor as a bearer token, anywhere
    for path in ("/api/auth/me", f"/api/cameras/{cam}/snapshot.jpg"):
        r = anon.get(path, headers={"Authorization": f"Bearer {mt}"})
        assert r.status_code == 401, path
        assert "media" in r.json()["detail"]["message"]


def test_a_used_media_link_is_still_no_bearer_token(world: Any) -> None:
    """Found by hand: once a media link had opened its snapshot (and its verified claims were
    memoised), the same token sent as a bearer token opened every route of its user."""
    cam = world["cams"][0]
    r = world["client"].get(f"/api/shares/{world['share'].id}/links")
    link = r.json()["cameras"][0]["links"]["snapshot"]
    mt = _mt(link)
    world["anon"].get(link)  # the link is used as intended first (any answer)
    for path in ("/api/auth/me", "/api/incidents", f"/api/cameras/{cam}"):
        r = world["anon"].get(path, headers={"Authorization": f"Bearer {mt}"})
        assert r.status_code == 401, (path, r.text)
        assert "media" in r.json()["detail"]["message"]


def test_media_token_follows_the_gate(session: Session, world: Any) -> None:
    """Revoked share, disabled user, expired token: the link stops working."""
    from geo.access.shares import revoke_share
    from geo.access.tokens import create_media_token

    cam, share, officer = world["cams"][0], world["share"], world["officer"]
    url = f"/api/cameras/{cam}/snapshot.jpg"
    old = create_media_token(
        officer,
        camera_id=cam,
        share_id=share.id,
        kind="snapshot",
        now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
    )[0]
    r = world["anon"].get(url, params={"mt": old})
    assert r.status_code == 401 and "expired" in r.text
    mt = create_media_token(officer, camera_id=cam, share_id=share.id, kind="snapshot")[0]
    assert world["anon"].get(url, params={"mt": mt}).status_code == 200
    revoke_share(session, share=share, by=world["op"], reason="case closed")
    session.flush()
    r = world["anon"].get(url, params={"mt": mt})
    assert r.status_code == 403, r.text
    assert _denials(session, "mt-officer")[-1]["share_id"] == share.id
    officer.disabled = True
    session.flush()
    assert world["anon"].get(url, params={"mt": mt}).status_code == 401


def test_monitoring_links_are_live_only(session: Session, world: Any) -> None:
    from geo.access.shares import camera_links

    cam = world["cams"][1]
    links = camera_links(cam, user=world["op"], share="monitoring")
    assert "mt=" in links["live"] and "mt=" in links["snapshot"] and "clip" not in links
    assert world["anon"].get(links["snapshot"]).status_code == 200
    at = (NOW - dt.timedelta(minutes=5)).isoformat()
    r = world["anon"].get(links["snapshot"] + "&at=" + at.replace("+", "%2B"))
    assert r.status_code == 403, r.text
    assert _denials(session, "mt-op")[-1]["detail"]["code"] == "media_token"
    # an officer gets no monitoring token from the builder
    assert "mt=" not in camera_links(cam, user=world["officer"], share="monitoring")["live"]


def test_links_for_someone_else_carry_no_token(world: Any) -> None:
    """The operator who pushed the share sees its links, but cannot mint the officer's."""
    r = world["auth_client"](world["op"]).get("/api/shares", params={"granted_by_me": True})
    assert r.status_code == 200, r.text
    for s in r.json()["shares"]:
        for c in s["cameras"]:
            assert all("mt=" not in u for u in c["links"].values())


# --- the console's cookie session ---------------------------------------------------------------


def _login(client: Any, username: str) -> Any:
    r = client.post("/api/auth/session", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r


def test_session_cookie_is_httponly_strict_and_works_for_me(world: Any) -> None:
    anon = world["anon"]
    r = _login(anon, "mt-officer")
    assert "access_token" not in r.json() and r.json()["csrf_token"]
    cookies = {c.split("=", 1)[0]: c for c in r.headers.get_list("set-cookie")}
    sess, csrf = cookies["gt_session"].lower(), cookies["gt_csrf"].lower()
    assert "httponly" in sess and "samesite=strict" in sess and "path=/" in sess
    assert "httponly" not in csrf and "samesite=strict" in csrf
    assert "secure" not in sess  # plain http here; https requests get Secure
    assert anon.cookies["gt_csrf"] == r.json()["csrf_token"]
    me = anon.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["username"] == "mt-officer"


def test_session_login_is_the_same_login(world: Any) -> None:
    r = world["anon"].post("/api/auth/session", data={"username": "mt-officer", "password": "x"})
    assert r.status_code == 401 and "gt_session" not in r.headers.get("set-cookie", "")


def test_cross_site_request_riding_the_cookie_is_refused_and_audited(
    session: Session, world: Any
) -> None:
    anon, share = world["anon"], world["share"]
    _login(anon, "mt-officer")
    url = f"/api/shares/{share.id}/revoke"
    for headers in ({}, {"X-CSRF-Token": "guess"}):
        r = anon.post(url, headers=headers)
        assert r.status_code == 403, r.text
        assert r.json()["detail"]["field"] == "X-CSRF-Token"
    rows = [d for d in _denials(session, "mt-officer") if d["detail"]["code"] == "csrf"]
    assert len(rows) == 2 and rows[0]["detail"]["path"] == url
    assert session.get(type(share), share.id).revoked_at is None
    # the page's own request repeats the cookie: it passes the CSRF check (then the gate decides)
    r = anon.post(url, headers={"X-CSRF-Token": anon.cookies["gt_csrf"]})
    assert r.status_code != 403 or r.json()["detail"].get("field") != "X-CSRF-Token", r.text


def test_header_token_wins_over_the_cookie(world: Any) -> None:
    from geo.access.tokens import create_token

    anon = world["anon"]
    _login(anon, "mt-officer")
    other = create_token(world["other"])[0]
    r = anon.get("/api/auth/me", headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 200 and r.json()["username"] == "mt-other"
    # with the header, no CSRF header is needed (a cross-site page cannot set it)
    r = anon.post(
        f"/api/shares/{world['share'].id}/revoke", headers={"Authorization": f"Bearer {other}"}
    )
    assert r.json()["detail"].get("field") != "X-CSRF-Token", r.text


def test_logout_clears_the_cookies(world: Any) -> None:
    anon = world["anon"]
    _login(anon, "mt-officer")
    r = anon.delete("/api/auth/session")
    assert r.status_code == 204
    assert "gt_session" not in anon.cookies and "gt_csrf" not in anon.cookies
    assert anon.get("/api/auth/me").status_code == 401


def test_access_log_redacts_media_tokens() -> None:
    from api.main import RedactTokens

    rec = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/api/cameras/1/snapshot.jpg?mt=eyJ.a.b&max_s=2", "1.1", 200),
        None,
    )
    RedactTokens().filter(rec)
    assert "eyJ" not in rec.getMessage() and "?mt=[redacted]&max_s=2" in rec.getMessage()
