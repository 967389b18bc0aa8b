"""Issue 11's leftovers, written as the attacks: a token copied before logout used after it, the
session cookie's Secure flag forged by any client's X-Forwarded-Proto, and a stolen token used
from an unregistered address in a flood meant to bury the audit log."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tests.conftest import TEST_PASSWORD, own_address, run_async, until


def _rows(session: Session, *, user: str | None = None, ip: str | None = None) -> list[Any]:
    conds, params = [], {}
    if user is not None:
        conds.append("username = :u")
        params["u"] = user
    if ip is not None:
        conds.append("client_ip = :ip")
        params["ip"] = ip
    return list(
        session.execute(
            text(
                "select action, reason, detail, username, client_ip from audit_log where "
                + " and ".join(conds)
                + " order by id"
            ),
            params,
        ).mappings()
    )


def _ip() -> str:
    return own_address(90)


# --- logout revokes the token ----------------------------------------------------------------


def test_token_used_after_logout_is_refused_401_and_audited(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    ip = _ip()
    u = make_user("lo-bearer", cidrs=[f"{ip}/32"])
    c = auth_client(u, ip=ip)
    stolen = c.headers["Authorization"]  # a copy taken before the logout
    assert c.get("/api/auth/me").status_code == 200
    other = auth_client(u, ip=ip)  # the same user's other session (another token)
    assert c.delete("/api/auth/session").status_code == 204
    logout = [r for r in _rows(session, user="lo-bearer") if r["action"] == "logout"]
    assert len(logout) == 1 and logout[0]["client_ip"] == ip and logout[0]["detail"]["jti"]
    thief = auth_client(None, ip=ip)
    for path in ("/api/auth/me", "/api/cameras", "/api/shares"):
        r = thief.get(path, headers={"Authorization": stolen})
        assert r.status_code == 401, (path, r.text)
        assert r.json()["detail"]["field"] == "token" and "revoked" in r.json()["detail"]["message"]
    denied = [r for r in _rows(session, ip=ip) if r["action"] == "denied"]
    assert len(denied) == 3 and all("revoked" in r["reason"] for r in denied)
    assert all(r["username"] == "lo-bearer" and r["detail"]["code"] == "token" for r in denied)
    # one logout ends one session, not the user's others
    assert other.get("/api/auth/me").status_code == 200
    # logging out again with the dead token is harmless and records nothing new
    assert thief.delete("/api/auth/session", headers={"Authorization": stolen}).status_code == 204
    assert len([r for r in _rows(session, user="lo-bearer") if r["action"] == "logout"]) == 1


def test_cookie_copied_before_logout_is_dead_after_it(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    ip = _ip()
    make_user("lo-cookie", cidrs=[f"{ip}/32"])
    browser = auth_client(None, ip=ip)
    r = browser.post("/api/auth/session", data={"username": "lo-cookie", "password": TEST_PASSWORD})
    assert r.status_code == 200, r.text
    copied = browser.cookies["gt_session"]  # e.g. lifted from the machine
    assert browser.get("/api/auth/me").status_code == 200
    assert browser.delete("/api/auth/session").status_code == 204  # the console's logout
    assert "gt_session" not in browser.cookies
    thief = auth_client(None, ip=ip)
    r = thief.get("/api/auth/me", headers={"Authorization": f"Bearer {copied}"})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]["message"]
    thief.cookies.set("gt_session", copied)
    assert thief.get("/api/auth/me").status_code == 401


def test_logout_without_a_live_token_only_clears_cookies(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    from geo.access.tokens import create_token

    ip = _ip()
    u = make_user("lo-dead", cidrs=[f"{ip}/32"])
    anon = auth_client(None, ip=ip)
    expired, _ = create_token(u, ttl_s=60, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    for headers in (
        {},
        {"Authorization": "Bearer garbage"},
        {"Authorization": f"Bearer {expired}"},
    ):
        assert anon.delete("/api/auth/session", headers=headers).status_code == 204
    n = session.execute(
        text("select count(*) from revoked_tokens where user_id = :u"), {"u": u.id}
    ).scalar_one()
    assert n == 0


def test_token_without_jti_is_revoked_too(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    """A token issued before tokens had ids (no ``jti``) is revoked by its digest."""
    from geo.access.tokens import _sign

    ip = _ip()
    u = make_user("lo-legacy", cidrs=[f"{ip}/32"])
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {"sub": u.username, "uid": u.id, "typ": "access", "iss": "goldentime"}
    old = _sign({**claims, "iat": now, "exp": now + 3600})
    c = auth_client(None, ip=ip)
    h = {"Authorization": f"Bearer {old}"}
    assert c.get("/api/auth/me", headers=h).status_code == 200
    assert c.delete("/api/auth/session", headers=h).status_code == 204
    assert c.get("/api/auth/me", headers=h).status_code == 401


def test_revoked_rows_live_only_until_the_token_would_expire(
    session: Session, make_user: Any, auth_client: Any
) -> None:
    ip = _ip()
    u = make_user("lo-purge", cidrs=[f"{ip}/32"])
    session.execute(
        text(
            "insert into revoked_tokens (jti, user_id, expires_at) "
            "values ('long-expired', :u, now() - interval '1 hour')"
        ),
        {"u": u.id},
    )
    c = auth_client(u, ip=ip)
    assert c.delete("/api/auth/session").status_code == 204
    left = session.execute(
        text("select jti, expires_at > now() from revoked_tokens where user_id = :u"),
        {"u": u.id},
    ).all()
    assert len(left) == 1 and left[0][0] != "long-expired" and left[0][1]


def test_memo_never_serves_a_logged_out_token(fresh_engine: Engine, sample_loaded: Any) -> None:
    """The worker's memo of user rows: a committed logout drops it (NOTIFY), and a row memoised
    for one token never vouches for another."""

    from geo.access.revocation import logout
    from geo.access.tokens import ActiveUserCache, create_token, token_claims_async
    from geo.access.users import create_user
    from geo.db import read_connection
    from geo.errors import Unauthorized

    url = os.environ["GOLDENTIME_DATABASE_URL"]
    name = f"lo-memo-{uuid.uuid4().hex[:8]}"
    with Session(fresh_engine) as s, s.begin():
        user = create_user(
            s, username=name, password="x" * 12, role="police", agency=None, cidrs=["10.0.0.1/32"]
        )
        tok_a, _ = create_token(user)
        tok_b, _ = create_token(user)
        uid = user.id

    async def go() -> None:
        cache = ActiveUserCache(url, max_age_s=60)
        cache.start()
        try:
            async with read_connection(url) as reader:
                await until(lambda: cache.listening)
                await token_claims_async(reader, tok_a, cache=cache)
                assert uid in cache.rows
                with Session(fresh_engine) as s, s.begin():
                    assert logout(s, token=tok_b, client_ip="10.0.0.1")
                await until(lambda: uid not in cache.rows)
                await token_claims_async(reader, tok_a, cache=cache)  # memoised again, for A
                with pytest.raises(Unauthorized, match="revoked"):
                    await token_claims_async(reader, tok_b, cache=cache)
        finally:
            assert cache.task is not None
            cache.task.cancel()

    try:
        run_async(go())
    finally:
        with fresh_engine.begin() as c:
            c.execute(text("delete from revoked_tokens where user_id = :u"), {"u": uid})


# --- the Secure flag: X-Forwarded-Proto only from a trusted proxy ------------------------------


def _cookie_flags(r: Any) -> dict[str, bool]:
    out = {}
    for h in r.headers.get_list("set-cookie"):
        name = h.split("=", 1)[0]
        out[name] = "secure" in [p.strip().lower() for p in h.split(";")]
    return out


@pytest.mark.parametrize(
    ("peer", "proto", "secure"),
    [
        ("10.93.0.5", "https", False),  # any client can send the header: ignored
        ("10.0.0.2", "https", True),  # the trusted proxy terminated TLS
        ("10.0.0.2", "http", False),
        ("10.0.0.2", "https, http", False),  # the nearest hop's (right-most) value counts
        ("10.0.0.2", None, False),
    ],
)
def test_secure_flag_follows_forwarded_proto_only_from_a_trusted_proxy(
    make_user: Any,
    auth_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    peer: str,
    proto: str | None,
    secure: bool,
) -> None:
    from geo.settings import get_settings

    monkeypatch.setattr(get_settings(), "trusted_proxies", ["10.0.0.2/32"])
    make_user("lo-proxy", cidrs=["10.93.0.5/32"])
    c = auth_client(None, ip=peer)
    headers = {"X-Forwarded-For": "10.93.0.5"}
    if proto is not None:
        headers["X-Forwarded-Proto"] = proto
    form = {"username": "lo-proxy", "password": TEST_PASSWORD}
    r = c.post("/api/auth/session", data=form, headers=headers)
    assert r.status_code == 200, r.text
    assert _cookie_flags(r) == {"gt_session": secure, "gt_csrf": secure}
    r = c.delete("/api/auth/session", headers=headers)
    assert r.status_code == 204 and _cookie_flags(r) == {"gt_session": secure, "gt_csrf": secure}


# --- 403 address refusals under a flood: bounded, never silent ---------------------------------


def test_stolen_token_flood_from_an_unregistered_address_is_bounded_in_the_log(
    session: Session,
    make_user: Any,
    auth_client: Any,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from geo.settings import get_settings

    monkeypatch.setattr(get_settings(), "refusal_audit_max", 3)
    victim = make_user("lo-victim")  # registered at 127.0.0.1 only
    bystander = make_user("lo-bystander")
    evil = "203.0.113.77"
    attacker = auth_client(victim, ip=evil)
    for _ in range(40):
        r = attacker.get("/api/cameras")
        assert r.status_code == 403 and "not registered" in r.json()["detail"]["message"]
    rows = _rows(session, user="lo-victim", ip=evil)
    assert all(r["action"] == "denied" and r["detail"]["code"] == "ip" for r in rows)
    full = [r for r in rows if "flood" not in r["detail"]]
    notes = [r["detail"] for r in rows if "flood" in r["detail"]]
    assert len(full) == 3 and full[0]["detail"]["access"] == "GET /api/cameras"
    # the cap itself is recorded, then a record each time the flood doubles: 37 beyond the cap
    # -> 1, 2, 4, 8, 16, 32
    assert [n["flood"] for n in notes] == ["cap_reached"] + ["still_refusing"] * 5
    assert [n["refusals"] for n in notes] == [4, 5, 7, 11, 19, 35]
    # the flood hides nobody else: another user from there, the victim from elsewhere
    assert auth_client(bystander, ip=evil).get("/api/cameras").status_code == 403
    assert len(_rows(session, user="lo-bystander", ip=evil)) == 1
    assert auth_client(victim, ip="198.51.100.7").get("/api/cameras").status_code == 403
    assert len(_rows(session, user="lo-victim", ip="198.51.100.7")) == 1
    # the minute passes (moved back in the counter): the window's exact total is recorded
    with engine.begin() as c:
        c.execute(
            text(
                "update rate_counters set first_at = first_at - interval '2 minutes' "
                "where scope = 'refusal_ip' and key = :k"
            ),
            {"k": f"{victim.id} {evil}"},
        )
    assert attacker.get("/api/shares").status_code == 403
    rows = _rows(session, user="lo-victim", ip=evil)
    total, own = rows[-2], rows[-1]
    assert total["detail"]["flood"] == "window_total" and total["detail"]["refusals"] == 40
    assert total["detail"]["suppressed"] == 37 and "40 in the 60 s" in total["reason"]
    assert own["detail"] == {"access": "GET /api/shares", "code": "ip"}
