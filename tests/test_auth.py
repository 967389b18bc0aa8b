"""Authentication: the token endpoint, the global token requirement, client addresses."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import jwt
import pytest
from sqlalchemy import text
from starlette.requests import Request

from tests.conftest import TEST_PASSWORD


def _denials_since(engine: Any, last_id: int, username: str) -> list[Any]:
    with engine.connect() as c:
        return c.execute(
            text(
                "select action, reason, client_ip, seq, hash from audit_log "
                "where id > :i and username = :u order by id"
            ),
            {"i": last_id, "u": username},
        ).all()


def _max_audit_id(engine: Any) -> int:
    with engine.connect() as c:
        return int(c.execute(text("select coalesce(max(id), 0) from audit_log")).scalar_one())


def test_every_api_route_requires_a_token(client: Any) -> None:
    from api.main import app

    paths = {p: ops for p, ops in app.openapi()["paths"].items() if p.startswith("/api")}
    assert "/api/incidents" in paths and "/api/audit" in paths
    for path, ops in paths.items():
        if path in ("/api/auth/token", "/api/auth/session"):  # the logins (and logout)
            continue
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method in ops:
            resp = client.request(method.upper(), url)
            assert resp.status_code == 401, (method, path, resp.status_code)
    for url in ("/api/cameras", "/api/incidents", "/api/auth/me", "/api/shares", "/api/audit"):
        r = client.get(url)
        assert r.status_code == 401, url
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["detail"]["field"] == "token"
    assert client.get("/health").status_code == 200
    assert client.get("/docs").status_code == 200
    assert client.get("/").status_code == 200


def test_login_issues_token_and_is_audited(client: Any, make_user: Any, session: Any) -> None:
    make_user("alice", role="police")
    r = client.post("/api/auth/token", data={"username": "alice", "password": TEST_PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["user"]["role"] == "police"
    tok = body["access_token"]
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {tok}"})
    assert me.status_code == 200 and me.json()["username"] == "alice"
    assert me.json()["agency"] == "Daejeon Yuseong Police"
    # the bearer token is never taken from the query string (it would end up in logs, history)
    assert client.get("/api/auth/me", params={"access_token": tok}).status_code == 401
    rows = session.execute(
        text("select action from audit_log where username = 'alice' and action = 'login'")
    ).all()
    assert len(rows) == 1


def test_failed_logins_are_refused_and_audited_durably(
    client: Any, make_user: Any, fresh_engine: Any
) -> None:
    make_user("bob_fail", role="fire")
    before = _max_audit_id(fresh_engine)
    r = client.post("/api/auth/token", data={"username": "bob_fail", "password": "nope"})
    assert r.status_code == 401 and r.json()["detail"]["field"] == "username"
    r = client.post("/api/auth/token", data={"username": "ghost_user", "password": "x"})
    assert r.status_code == 401
    assert r.json()["detail"]["message"] == "incorrect username or password"
    # committed in their own transaction: visible from another connection, already chained
    rows = _denials_since(fresh_engine, before, "bob_fail")
    assert [(a, why) for a, why, *_ in rows] == [("login_failed", "wrong password")]
    assert rows[0].seq is not None and len(rows[0].hash) == 64
    assert _denials_since(fresh_engine, before, "ghost_user")[0].reason == "unknown user"
    r = client.post("/api/auth/token", data={"username": "bob_fail"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "password"


def test_repeated_failed_logins_are_throttled_per_address(
    session: Any, make_user: Any, auth_client: Any, fresh_engine: Any
) -> None:
    """After 5 failures for a username from one address: 429 with Retry-After, even with the
    right password, audited; the same user from another address is not locked out."""
    make_user("dave_throttle", role="police", cidrs=("10.9.0.0/16",))
    attacker = auth_client(None, ip="10.66.0.7")
    for _ in range(5):
        r = attacker.post("/api/auth/token", data={"username": "dave_throttle", "password": "no"})
        assert r.status_code == 401
    r = attacker.post(
        "/api/auth/token", data={"username": "dave_throttle", "password": TEST_PASSWORD}
    )
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert r.json()["detail"]["field"] == "username"
    with fresh_engine.connect() as conn:
        reasons = [
            why
            for (why,) in conn.execute(
                text(
                    "select reason from audit_log where username = 'dave_throttle' "
                    "and client_ip = '10.66.0.7' order by id"
                )
            )
        ]
    assert reasons[-1] == "rate limited" and reasons.count("wrong password") == 5
    officer = auth_client(None, ip="10.9.0.5")
    r = officer.post(
        "/api/auth/token", data={"username": "dave_throttle", "password": TEST_PASSWORD}
    )
    assert r.status_code == 200, r.text


def test_forged_token_is_refused(client: Any, make_user: Any) -> None:
    u = make_user("carol", role="police")
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": "carol",
        "uid": u.id,
        "role": "admin",
        "iss": "goldentime",
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(hours=1)).timestamp()),
    }
    forged = jwt.encode(claims, "not-the-server-secret-0123456789abcdef", algorithm="HS256")
    r = client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and "invalid token" in r.json()["detail"]["message"]
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    r = client.get("/api/auth/me", headers={"Authorization": f"Bearer {unsigned}"})
    assert r.status_code == 401
    r = client.get("/api/auth/me", headers={"Authorization": "Bearer garbage"})
    assert r.status_code == 401


def test_expired_token_is_refused(client: Any, make_user: Any) -> None:
    from geo.access.tokens import create_token

    u = make_user("dave", role="police")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=10)
    tok, exp = create_token(u, ttl_s=3600, now=old)
    assert exp < dt.datetime.now(dt.UTC)
    r = client.get("/api/auth/me", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 401 and r.json()["detail"]["message"] == "token expired"


def test_disabled_user_token_stops_working(
    client: Any, make_user: Any, auth_client: Any, session: Any
) -> None:
    from geo.access.users import set_disabled

    u = make_user("erin", role="police")
    c = auth_client(u)
    assert c.get("/api/auth/me").status_code == 200
    set_disabled(session, "erin")
    r = c.get("/api/auth/me")
    assert r.status_code == 401 and "disabled" in r.json()["detail"]["message"]
    r = client.post("/api/auth/token", data={"username": "erin", "password": TEST_PASSWORD})
    assert r.status_code == 401


def test_token_of_a_user_that_no_longer_matches_is_refused(
    make_user: Any, auth_client: Any, session: Any
) -> None:
    u = make_user("frank", role="police")
    c = auth_client(u)
    u.username = "frank_renamed"
    session.flush()
    assert c.get("/api/auth/me").status_code == 401


def _request(peer: str, xff: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", xff.encode())] if xff else []
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/",
            "headers": headers,
            "client": (peer, 1234),
            "query_string": b"",
        }
    )


@pytest.fixture
def trusted_proxies(monkeypatch: pytest.MonkeyPatch) -> Any:
    from geo.settings import get_settings

    def _set(value: str) -> None:
        monkeypatch.setenv("GOLDENTIME_TRUSTED_PROXIES", value)
        get_settings.cache_clear()

    yield _set
    monkeypatch.delenv("GOLDENTIME_TRUSTED_PROXIES", raising=False)
    get_settings.cache_clear()


def test_client_ip_honours_forwarded_for_only_from_trusted_proxies(trusted_proxies: Any) -> None:
    from api.deps import client_ip

    trusted_proxies("[]")
    assert client_ip(_request("203.0.113.9", "127.0.0.1")) == "203.0.113.9"
    trusted_proxies('["10.0.0.0/8"]')
    # the peer is not a trusted proxy: the header is a lie taken on nobody's faith
    assert client_ip(_request("203.0.113.9", "127.0.0.1")) == "203.0.113.9"
    # a trusted proxy forwards: the right-most untrusted hop is the client
    assert client_ip(_request("10.1.2.3", "127.0.0.1, 198.51.100.7")) == "198.51.100.7"
    assert client_ip(_request("10.1.2.3", "198.51.100.7, 10.9.9.9")) == "198.51.100.7"
    assert client_ip(_request("10.1.2.3")) == "10.1.2.3"


def test_spoofed_forwarded_for_does_not_pass_the_ip_rule(
    make_user: Any, auth_client: Any, trusted_proxies: Any
) -> None:
    trusted_proxies('["10.0.0.1/32"]')
    u = make_user("gina", role="police", cidrs=["127.0.0.1/32"])
    outside = auth_client(u, ip="203.0.113.50")
    r = outside.get("/api/auth/me", headers={"X-Forwarded-For": "127.0.0.1"})
    # the gate on every route sees the real peer, which is not registered
    assert r.status_code == 403 and "203.0.113.50" in r.json()["detail"]["message"]
    proxied = auth_client(u, ip="10.0.0.1")
    r = proxied.get("/api/auth/me", headers={"X-Forwarded-For": "127.0.0.1"})
    assert r.json()["client_ip"] == "127.0.0.1"


def test_user_input_is_validated(session: Any) -> None:
    from geo.access.users import create_user
    from geo.errors import Conflict, InvalidInput

    with pytest.raises(InvalidInput) as e:
        create_user(session, username="h1", password="x", role="boss", agency="A", cidrs=[])
    assert e.value.field == "role"
    with pytest.raises(InvalidInput) as e:
        create_user(
            session, username="h1", password="x", role="police", agency="A", cidrs=["300.1.1.1/8"]
        )
    assert e.value.field == "allow_ip"
    create_user(
        session, username="h1", password="x", role="police", agency="A", cidrs=["192.168.0.7"]
    )
    with pytest.raises(Conflict):
        create_user(session, username="h1", password="x", role="police", agency="A", cidrs=[])


def test_users_cli_add_list_disable_and_demo(
    client: Any, fresh_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from cli.main import app
    from geo.access.users import DEMO_USERS

    names = ["cli_officer", *[n for n, _, _ in DEMO_USERS]]
    run = CliRunner().invoke
    try:
        monkeypatch.setenv("GOLDENTIME_USER_PASSWORD", "s3cret-pass")
        r = run(
            app,
            [
                "users",
                "add",
                "cli_officer",
                "--role",
                "police",
                "--agency",
                "Daejeon Seobu Police",
                "--allow-ip",
                "10.0.0.0/8",
                "--allow-ip",
                "192.168.1.5",
            ],
        )
        assert r.exit_code == 0, r.output
        r = run(
            app,
            [
                "users",
                "add",
                "cli_officer",
                "--role",
                "police",
                "--agency",
                "A",
                "--allow-ip",
                "10.0.0.0/8",
            ],
        )
        assert r.exit_code == 2 and "already exists" in r.output
        r = run(
            app,
            [
                "users",
                "add",
                "cli_bad",
                "--role",
                "chief",
                "--agency",
                "A",
                "--allow-ip",
                "10.0.0.0/8",
            ],
        )
        assert r.exit_code == 2 and "[role]" in r.output
        r = run(app, ["users", "list"])
        assert "cli_officer" in r.output and "192.168.1.5/32" in r.output
        tok = client.post(
            "/api/auth/token", data={"username": "cli_officer", "password": "s3cret-pass"}
        )
        assert tok.status_code == 200
        assert run(app, ["users", "disable", "cli_officer"]).exit_code == 0
        assert "DISABLED" in run(app, ["users", "list"]).output
        me = client.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {tok.json()['access_token']}"}
        )
        assert me.status_code == 401

        monkeypatch.delenv("GOLDENTIME_DEMO_PASSWORD", raising=False)
        r = run(app, ["users", "demo"])
        assert r.exit_code == 0 and "goldentime-demo" in r.output and "curl" in r.output
        assert r.output.count("created") == len(DEMO_USERS)
        r = run(app, ["users", "demo"])
        assert r.exit_code == 0 and r.output.count("exists") == len(DEMO_USERS)
        tok = client.post(
            "/api/auth/token", data={"username": "officer1", "password": "goldentime-demo"}
        )
        assert tok.status_code == 200 and tok.json()["user"]["role"] == "police"
        assert tok.json()["user"]["allowed_cidrs"] == ["127.0.0.1/32", "::1/128"]
    finally:  # the CLI commits: leave the session database as it was
        with fresh_engine.begin() as c:
            c.execute(text("delete from users where username = any(:n)"), {"n": names})


def test_access_log_redacts_query_tokens() -> None:
    """Media links carry the token in the query string; the access log must not keep it."""
    import logging

    from api.main import RedactTokens

    rec = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/api/cameras/1/live.mjpg?access_token=eyJ.a.b&x=1", "1.1", 200),
        None,
    )
    assert RedactTokens().filter(rec)
    assert "eyJ" not in rec.getMessage() and "access_token=[redacted]&x=1" in rec.getMessage()
    assert any(isinstance(f, RedactTokens) for f in logging.getLogger("uvicorn.access").filters)


def test_verified_token_memo_still_expires_and_follows_the_key(
    make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """decode_token memoises verified tokens: a hit still checks exp, and a new secret key
    does not accept tokens signed with the old one."""
    import time

    from geo.access import tokens as auth
    from geo.errors import Unauthorized
    from geo.settings import get_settings

    tok, exp = auth.create_token(make_user("memo_user"), ttl_s=60)
    assert auth.decode_token(tok)["sub"] == "memo_user"
    assert any(t == tok for _, t in auth._VERIFIED)
    real = time.time
    monkeypatch.setattr(auth.time, "time", lambda: real() + 120)
    with pytest.raises(Unauthorized, match="expired"):
        auth.decode_token(tok)
    monkeypatch.setattr(auth.time, "time", real)
    auth.decode_token(tok)  # valid again at the real time: verified anew
    monkeypatch.setenv("GOLDENTIME_SECRET_KEY", "another-secret-key-0123456789-0123456789")
    get_settings.cache_clear()
    try:
        with pytest.raises(Unauthorized, match="invalid token"):
            auth.decode_token(tok)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
