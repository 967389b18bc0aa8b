"""Media links die with the login that made them, written as the attacks: an officer logs out at
a shared console (or an admin revokes the session, disables the user, takes the role, revokes
the share) and whoever copied a video link (``?mt=``) keeps watching until it expires."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.video import archive
from geo.video.sources import demo_clip_path, demo_stream_url
from tests.conftest import TEST_PASSWORD, own_address, run_async, until

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
T = NOW - dt.timedelta(minutes=10)  # the archive: 3 segments of 4 s from T


def _ip() -> str:
    return own_address(80)


def _mt(url: str) -> str:
    return parse_qs(urlsplit(url).query)["mt"][0]


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture
def world(session: Session, video_dir: Path, make_user: Any, auth_client: Any) -> dict[str, Any]:
    """A camera with the demo source and a 12 s archive, an operator, an officer (registered at
    an address of this test) holding a share of it (live + the past hour)."""
    from geo.access.shares import create_share

    cam = int(
        session.execute(
            text("select min(id) from cameras where purpose = 'crime_prevention'")
        ).scalar_one()
    )
    session.execute(
        text("update cameras set stream_url = :u where id = :c"),
        {"u": demo_stream_url(), "c": cam},
    )
    archive.import_video(
        session, camera_id=cam, path=demo_clip_path(), start_at=T, segment_s=4, max_frames=120
    )
    ip = _ip()
    name = f"mlr-{uuid.uuid4().hex[:6]}"
    op = make_user(f"{name}-op", role="operator", agency="Daejeon CCTV Centre")
    officer = make_user(name, cidrs=[f"{ip}/32"])
    share = create_share(
        session,
        kind="push",
        granted_by=op,
        to_user=officer,
        camera_ids=[cam],
        reason="case 2026-303 robbery",
        past_start=NOW - dt.timedelta(hours=1),
        past_end=NOW,
    )
    return {
        "cam": cam,
        "ip": ip,
        "op": op,
        "officer": officer,
        "share": share,
        "anon": auth_client(None, ip=ip),  # what <img>/<video> send: no header, no cookie
        "auth_client": auth_client,
    }


def _login(world: dict[str, Any]) -> str:
    """A real login (password, audited) at the officer's console: its bearer token."""
    r = world["anon"].post(
        "/api/auth/token",
        data={"username": world["officer"].username, "password": TEST_PASSWORD},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _links(world: dict[str, Any], token: str) -> dict[str, str]:
    """The share's fresh media links, asked for with ``token``; the clip link for 6 s of the
    archive (the share's window is an hour, more than one clip)."""
    r = world["anon"].get(
        f"/api/shares/{world['share'].id}/links", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    links = dict(r.json()["cameras"][0]["links"])
    start, end = T + dt.timedelta(seconds=3), T + dt.timedelta(seconds=9)
    base = links["clip"].split("?")[0]
    links["clip"] = f"{base}?start={_iso(start)}&end={_iso(end)}&mt={_mt(links['clip'])}"
    return links


def _get(world: dict[str, Any], kind: str, url: str) -> httpx.Response:
    if kind == "live":
        with world["anon"].stream("GET", url + "&max_s=1") as r:
            if r.status_code == 200:
                assert next(r.iter_bytes()).startswith(b"--frame")
            else:
                r.read()
            return r
    return world["anon"].get(url)


def _denials(session: Session, *, username: str, ip: str) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in session.execute(
            text(
                "select reason, detail, camera_ids, share_id from audit_log where "
                "username = :u and client_ip = :ip and action = 'denied' order by id"
            ),
            {"u": username, "ip": ip},
        ).mappings()
    ]


def _logout(world: dict[str, Any], token: str) -> None:
    r = world["anon"].delete("/api/auth/session", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204, r.text


# --- logout ends the links of that login, not of the user's other logins ----------------------


def test_links_copied_before_logout_are_refused_after_it_and_audited(
    session: Session, world: dict[str, Any]
) -> None:
    console, other = _login(world), _login(world)  # a shared console; the officer's laptop
    copied, kept = _links(world, console), _links(world, other)
    assert set(copied) == {"live", "snapshot", "clip"}
    for kind, url in copied.items():  # each link names the login it was made under
        assert _claims(_mt(url))["sid"] == _claims(console)["jti"], kind
        assert _get(world, kind, url).status_code == 200, kind
    _logout(world, console)
    for kind, url in copied.items():  # whoever copied the links: refused, every kind
        r = _get(world, kind, url)
        assert r.status_code == 401, (kind, r.text)
        err = r.json()["detail"]
        assert err["field"] == "mt" and "logged out" in err["message"], kind
    denied = _denials(session, username=world["officer"].username, ip=world["ip"])
    assert len(denied) == 3
    for d in denied:
        assert "logged out" in d["reason"] and d["detail"]["code"] == "token"
        assert d["camera_ids"] == [world["cam"]]
    assert {d["detail"]["access"].split("/")[-1] for d in denied} == {
        "live.mjpg",
        "snapshot.jpg",
        "clip.mp4",
    }
    # the officer's other login, and its links, go on
    for kind, url in kept.items():
        assert _get(world, kind, url).status_code == 200, kind
    r = world["anon"].get("/api/auth/me", headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 200
    # and the dead login cannot mint new links
    r = world["anon"].get(
        f"/api/shares/{world['share'].id}/links", headers={"Authorization": f"Bearer {console}"}
    )
    assert r.status_code == 401


def test_links_made_through_the_cookie_session_die_with_its_logout(
    world: dict[str, Any], auth_client: Any
) -> None:
    browser = auth_client(None, ip=world["ip"])
    form = {"username": world["officer"].username, "password": TEST_PASSWORD}
    assert browser.post("/api/auth/session", data=form).status_code == 200
    r = browser.get(f"/api/shares/{world['share'].id}/links")
    assert r.status_code == 200, r.text
    snap = r.json()["cameras"][0]["links"]["snapshot"]
    assert world["anon"].get(snap).status_code == 200
    assert browser.delete("/api/auth/session").status_code == 204  # the console's logout
    r = world["anon"].get(snap)
    assert r.status_code == 401 and "logged out" in r.json()["detail"]["message"]


def test_monitoring_links_of_the_incident_map_die_with_the_operators_logout(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    """The centre's live monitoring links (no share) on a saved incident map page."""
    import re

    ip = _ip()
    name = f"mlr-mon-{uuid.uuid4().hex[:6]}"
    make_user(name, role="operator", agency="Daejeon CCTV Centre", cidrs=[f"{ip}/32"])
    inc = session.execute(
        text("select id from incidents where source = 'kr-accidents' order by id limit 1")
    ).scalar_one()
    console, viewer = auth_client(None, ip=ip), auth_client(None, ip=ip)
    form = {"username": name, "password": TEST_PASSWORD}
    assert console.post("/api/auth/session", data=form).status_code == 200
    r = console.get(f"/api/incidents/{inc}/map", params={"k": 2})
    assert r.status_code == 200, r.text
    links = re.findall(r"/api/cameras/\d+/live\.mjpg\?mt=[\w.-]+", r.text)
    assert len(links) == 2 and all(_claims(_mt(u))["shr"] == "monitoring" for u in links)
    session.execute(
        text("update cameras set stream_url = :u where id = any(:ids)"),
        {"u": demo_stream_url(), "ids": [_claims(_mt(u))["cam"] for u in links]},
    )
    with viewer.stream("GET", links[0] + "&max_s=1") as s:
        assert s.status_code == 200
    assert console.delete("/api/auth/session").status_code == 204
    for url in links:
        r = viewer.get(url + "&max_s=1")
        assert r.status_code == 401 and "logged out" in r.json()["detail"]["message"]
    assert len(_denials(session, username=name, ip=ip)) == 2


# --- tampering: the link's login cannot be swapped or dropped ---------------------------------


def _forge(token: str, **changes: Any) -> str:
    """``token`` with its payload changed (``None`` drops a claim), signature kept."""
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    for k, v in changes.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    raw = json.dumps(claims, separators=(",", ":")).encode()
    return f"{head}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}.{sig}"


def test_tampered_link_with_another_login_or_none_is_refused(
    session: Session, world: dict[str, Any]
) -> None:
    console, other = _login(world), _login(world)
    snap = _links(world, console)["snapshot"]
    mt = _mt(snap)
    _logout(world, console)
    url = f"/api/cameras/{world['cam']}/snapshot.jpg"
    # the dead link's login swapped for the live one, or dropped (a link bound to no login)
    for forged in (_forge(mt, sid=_claims(other)["jti"]), _forge(mt, sid=None)):
        r = world["anon"].get(url, params={"mt": forged})
        assert r.status_code == 401, r.text
        assert "invalid token" in r.json()["detail"]["message"]
    # a login id that is no string (only a forger could write one) is refused too, never a 500
    from geo.access.tokens import _sign

    for bad in (123, "", "x" * 100):
        signed = _sign({**_claims(mt), "sid": bad})
        r = world["anon"].get(url, params={"mt": signed})
        assert r.status_code == 401 and r.json()["detail"]["field"] == "mt", r.text
    denied = _denials(session, username=world["officer"].username, ip=world["ip"])
    assert len(denied) == 5 and all(d["detail"]["code"] == "token" for d in denied)


# --- the user and the share: the same link stops with them ------------------------------------


def test_links_stop_when_the_user_is_disabled(session: Session, world: dict[str, Any]) -> None:
    from geo.access.users import set_disabled

    snap = _links(world, _login(world))["snapshot"]
    assert world["anon"].get(snap).status_code == 200
    set_disabled(session, world["officer"].username)
    session.flush()
    r = world["anon"].get(snap)
    assert r.status_code == 401 and "disabled" in r.json()["detail"]["message"]
    (d,) = _denials(session, username=world["officer"].username, ip=world["ip"])
    assert "disabled" in d["reason"] and d["camera_ids"] == [world["cam"]]


def test_links_stop_when_the_user_loses_the_video_role(
    session: Session, world: dict[str, Any]
) -> None:
    links = _links(world, _login(world))
    assert world["anon"].get(links["snapshot"]).status_code == 200
    world["officer"].role = "planner"  # moved to a desk without video
    session.flush()
    for kind in ("snapshot", "clip"):
        r = world["anon"].get(links[kind])
        assert r.status_code == 403, (kind, r.text)
        assert "planner" in r.json()["detail"]["message"]
    denied = _denials(session, username=world["officer"].username, ip=world["ip"])
    assert len(denied) == 2 and all("planner" in d["reason"] for d in denied)


def test_links_stop_when_the_share_is_revoked(session: Session, world: dict[str, Any]) -> None:
    from geo.access.shares import revoke_share

    links = _links(world, _login(world))
    assert world["anon"].get(links["clip"]).status_code == 200
    revoke_share(session, share=world["share"], by=world["op"], reason="case closed")
    session.flush()
    for kind, url in links.items():
        r = _get(world, kind, url)
        assert r.status_code == 403 and "revoked" in r.json()["detail"]["message"], kind
    denied = _denials(session, username=world["officer"].username, ip=world["ip"])
    assert len(denied) == 3 and all(d["share_id"] == world["share"].id for d in denied)


# --- the memo: a segment request costs no read, a logout drops it ------------------------------


class _CountingReader:
    """An async reader that counts the statements it runs."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.reads = inner, 0

    async def fetch(self, stmt: Any, params: dict[str, Any]) -> Any:
        self.reads += 1
        return await self.inner.fetch(stmt, params)


def test_memo_serves_links_of_a_live_login_and_never_of_a_logged_out_one(
    fresh_engine: Engine, sample_loaded: Any
) -> None:
    """The worker's memo: a media link rides on its login's memoised row (no read per segment
    request), and the committed logout of that login (NOTIFY) ends the link at once."""
    from geo.access.revocation import logout
    from geo.access.tokens import (
        ActiveUserCache,
        create_media_token,
        create_token,
        token_claims_async,
    )
    from geo.access.users import create_user
    from geo.db import read_connection
    from geo.errors import Unauthorized

    url = os.environ["GOLDENTIME_DATABASE_URL"]
    name = f"mlr-memo-{uuid.uuid4().hex[:8]}"
    with Session(fresh_engine) as s, s.begin():
        user = create_user(
            s, username=name, password="x" * 12, role="police", agency=None, cidrs=["10.0.0.1/32"]
        )
        tok_a, _ = create_token(user)
        tok_b, _ = create_token(user)
        sid_a, sid_b = _claims(tok_a)["jti"], _claims(tok_b)["jti"]
        link_a, link_b = (
            create_media_token(user, camera_id=1, share_id=1, kind="live", login_id=sid)[0]
            for sid in (sid_a, sid_b)
        )
        uid = user.id

    async def go() -> None:
        cache = ActiveUserCache(url, max_age_s=60)
        cache.start()
        try:
            async with read_connection(url) as conn:
                reader = _CountingReader(conn)
                await until(lambda: cache.listening)
                await token_claims_async(reader, tok_a, cache=cache)  # the console's request
                assert reader.reads == 1
                for _ in range(5):  # segment requests of its links: no read
                    c = await token_claims_async(reader, link_a, cache=cache, media=True)
                    assert c["login_id"] == sid_a
                assert reader.reads == 1
                await token_claims_async(reader, link_b, cache=cache, media=True)
                with Session(fresh_engine) as s, s.begin():
                    assert logout(s, token=tok_a, client_ip="10.0.0.1")
                await until(lambda: uid not in cache.rows)
                with pytest.raises(Unauthorized, match="logged out"):
                    await token_claims_async(reader, link_a, cache=cache, media=True)
                await token_claims_async(reader, link_b, cache=cache, media=True)  # memoised
                with pytest.raises(Unauthorized, match="logged out"):  # never by the memo
                    await token_claims_async(reader, link_a, cache=cache, media=True)
        finally:
            assert cache.task is not None
            cache.task.cancel()

    try:
        run_async(go())
    finally:
        with fresh_engine.begin() as c:
            c.execute(text("delete from revoked_tokens where user_id = :u"), {"u": uid})


# --- a live stream already running on a link ends at the logout --------------------------------


@pytest.fixture
def live_share(engine: Any, sample_loaded: Any) -> Iterator[dict[str, Any]]:
    """Committed (the live server sees committed data only): a camera with the demo source, an
    operator and an officer holding a live share; the camera's source is removed afterwards."""
    from geo.access.shares import create_share
    from geo.access.users import create_user
    from geo.db import session_scope

    tag = uuid.uuid4().hex[:8]
    with session_scope() as s:
        cam = int(
            s.execute(
                text("select max(id) from cameras where purpose = 'crime_prevention'")
            ).scalar_one()
        )
        s.execute(
            text("update cameras set stream_url = :u where id = :c"),
            {"u": demo_stream_url(), "c": cam},
        )
        users = [
            create_user(
                s,
                username=f"mlr-live-{role}-{tag}",
                password=TEST_PASSWORD,
                role=role,
                agency="Daejeon CCTV Centre" if role == "operator" else "Daejeon Yuseong Police",
                cidrs=["127.0.0.1/32"],
            )
            for role in ("operator", "police")
        ]
        share = create_share(
            s,
            kind="push",
            granted_by=users[0],
            to_user=users[1],
            camera_ids=[cam],
            reason="case 2026-304 live",
        )
        s.flush()
        out = {"cam": cam, "share_id": share.id, "officer": users[1].username}
    try:
        yield out
    finally:
        with session_scope() as s:
            s.execute(text("update cameras set stream_url = null where id = :c"), {"c": cam})


def test_logout_ends_a_live_stream_running_on_its_link(
    live_server: str, live_share: dict[str, Any], engine: Engine
) -> None:
    with httpx.Client(base_url=live_server, timeout=10) as http:
        form = {"username": live_share["officer"], "password": TEST_PASSWORD}
        token = http.post("/api/auth/token", data=form).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        r = http.get(f"/api/shares/{live_share['share_id']}/links", headers=auth)
        assert r.status_code == 200, r.text
        live = r.json()["cameras"][0]["links"]["live"]
        with http.stream("GET", live + "&max_s=120") as stream:  # no header: the link
            assert stream.status_code == 200, stream.read()
            chunks = stream.iter_raw()
            got = 0
            while got < 20_000:  # a few frames first
                got += len(next(chunks))
            assert http.delete("/api/auth/session", headers=auth).status_code == 204
            deadline, ended = time.monotonic() + 10, True  # 'never ends' guard, no speed check
            for _chunk in chunks:
                if time.monotonic() > deadline:
                    ended = False
                    break
        assert ended, "the stream went on after the login that made its link logged out"
        assert http.get(live + "&max_s=1").status_code == 401
    with engine.connect() as c:
        reason = c.execute(
            text(
                "select reason from audit_log where username = :u and action = 'denied' "
                "and detail->>'code' = 'stream_ended'"
            ),
            {"u": live_share["officer"]},
        ).scalar_one()
    assert "logged out" in reason


# --- a link never outlives its login: links minted in a login's last minutes die with it -------


def test_links_asked_for_in_a_logins_last_minute_expire_with_the_login(
    world: dict[str, Any],
) -> None:
    """An officer's login has a minute left (8 h are nearly up); the links it gets (fresh links,
    the opened share) would otherwise work 5 minutes past it, in whoever's hands they are."""
    from geo.access.tokens import create_token

    login, _ = create_token(world["officer"], ttl_s=60)
    end = _claims(login)["exp"]
    auth = {"Authorization": f"Bearer {login}"}
    sid = world["share"].id
    r = world["anon"].get(f"/api/shares/{sid}/links", headers=auth)
    assert r.status_code == 200, r.text
    fresh = r.json()["cameras"][0]["links"]
    assert int(dt.datetime.fromisoformat(r.json()["expires_at"]).timestamp()) == end
    r = world["anon"].get(f"/api/shares/{sid}", headers=auth)
    assert r.status_code == 200, r.text
    opened = r.json()["cameras"][0]["links"]
    for kind, url in [*fresh.items(), *opened.items()]:
        c = _claims(_mt(url))
        assert c["exp"] <= end, (kind, c["exp"] - end)  # never past the login
        assert c["exp"] == end and c["sid"] == _claims(login)["jti"], kind
    assert world["anon"].get(fresh["snapshot"]).status_code == 200  # the login still lives


def test_monitoring_links_of_an_expiring_operator_login_expire_with_it(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    """The centre's live monitoring links on an incident map, for an operator whose login has a
    minute left (the page opens with the header as with the cookie)."""
    import re

    from geo.access.tokens import create_token

    ip = _ip()
    name = f"mlr-exp-{uuid.uuid4().hex[:6]}"
    op = make_user(name, role="operator", agency="Daejeon CCTV Centre", cidrs=[f"{ip}/32"])
    login, _ = create_token(op, ttl_s=60)
    inc = session.execute(
        text("select id from incidents where source = 'kr-accidents' order by id limit 1")
    ).scalar_one()
    r = auth_client(None, ip=ip).get(
        f"/api/incidents/{inc}/map", params={"k": 2}, headers={"Authorization": f"Bearer {login}"}
    )
    assert r.status_code == 200, r.text
    links = re.findall(r"/api/cameras/\d+/live\.mjpg\?mt=[\w.-]+", r.text)
    assert len(links) == 2
    assert all(_claims(_mt(u))["exp"] <= _claims(login)["exp"] for u in links)


def test_a_link_minted_in_the_logins_last_seconds_dies_with_it(world: dict[str, Any]) -> None:
    """Fast-forward to the login's last seconds (minting with ``now``): the link's expiry is
    the login's, never the full 5 minutes after; a login with more than that left, and minting
    outside a request (scripts), keep the full lifetime."""
    import contextvars

    from geo.access.tokens import LOGIN_EXP, create_media_token, create_token, set_login
    from geo.settings import get_settings

    ttl = get_settings().media_token_ttl_s
    officer, cam, shr = world["officer"], world["cam"], world["share"].id

    def mint(login: str, now: dt.datetime) -> tuple[str, dt.datetime]:
        c = _claims(login)
        set_login({**c, "login_id": c["jti"]})  # what api.deps.token_claims does per request
        return create_media_token(officer, camera_id=cam, share_id=shr, kind="clip", now=now)

    login, login_end = create_token(officer, ttl_s=3600)
    end = _claims(login)["exp"]
    for left_s in (ttl - 1, 60, 10, 1):
        now = dt.datetime.fromtimestamp(end - left_s, dt.UTC)
        mt, exp = contextvars.copy_context().run(mint, login, now)
        assert _claims(mt)["exp"] == end and int(exp.timestamp()) == end, left_s
        assert _claims(mt)["exp"] - _claims(mt)["iat"] == left_s
    now = dt.datetime.fromtimestamp(end - ttl - 60, dt.UTC)  # more than the TTL left: full
    mt, _ = contextvars.copy_context().run(mint, login, now)
    assert _claims(mt)["exp"] - _claims(mt)["iat"] == ttl
    assert LOGIN_EXP.get() is None  # nothing leaked out of the "requests"
    late = login_end - dt.timedelta(seconds=10)
    mt, _ = create_media_token(officer, camera_id=cam, share_id=shr, kind="clip", now=late)
    assert _claims(mt)["exp"] - _claims(mt)["iat"] == ttl and "sid" not in _claims(mt)
    mt, _ = create_media_token(  # a caller naming the login caps it the same way
        officer, camera_id=cam, share_id=shr, kind="clip", now=late, login_exp=end
    )
    assert _claims(mt)["exp"] == end


def test_links_of_a_full_login_keep_the_full_lifetime(world: dict[str, Any]) -> None:
    """No regression: a fresh login's links live ``media_token_ttl_s``, and the API says so."""
    from geo.settings import get_settings

    login = _login(world)
    r = world["anon"].get(
        f"/api/shares/{world['share'].id}/links", headers={"Authorization": f"Bearer {login}"}
    )
    assert r.status_code == 200, r.text
    c = _claims(_mt(r.json()["cameras"][0]["links"]["snapshot"]))
    assert c["exp"] - c["iat"] == get_settings().media_token_ttl_s
    assert int(dt.datetime.fromisoformat(r.json()["expires_at"]).timestamp()) == c["exp"]
