"""Signing keys, written as the attacks: a token signed with the repository's old default
secret, a service started with it, a rotation that logs everybody out, readable key files."""

from __future__ import annotations

import datetime as dt
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from geo.access import keys
from geo.access.keys import OLD_DEFAULT_SECRET
from geo.errors import InvalidInput, Unauthorized
from geo.settings import Settings, get_settings


def _forge(secret: str, uid: int, username: str, *, kid: str | None = "env") -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": username,
        "uid": uid,
        "role": "admin",
        "typ": "access",
        "iss": "goldentime",
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(days=3650)).timestamp()),
    }
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers)


@pytest.fixture
def key_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The service without GOLDENTIME_SECRET_KEY, its state folder in ``tmp_path``."""
    monkeypatch.setenv("GOLDENTIME_HOME", str(tmp_path))
    monkeypatch.delenv("GOLDENTIME_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    keys._RING.clear()
    try:
        yield tmp_path
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        keys._RING.clear()


def test_settings_carry_no_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOLDENTIME_SECRET_KEY", raising=False)
    assert Settings(_env_file=None).secret_key is None  # type: ignore[call-arg]


@pytest.mark.parametrize("kid", ["env", None, "20260101T000000Z-deadbeef"])
def test_token_signed_with_the_old_default_secret_is_refused(
    make_user: Any, auth_client: Any, kid: str | None
) -> None:
    admin = make_user("keys-admin", role="admin", agency="Daejeon CCTV Centre")
    forged = _forge(OLD_DEFAULT_SECRET, admin.id, admin.username, kid=kid)
    anon = auth_client(None)
    for path in ("/api/auth/me", "/api/audit", "/api/cameras"):
        r = anon.get(path, headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401, (path, r.text)
        assert r.json()["detail"]["field"] == "token"


def test_old_default_secret_in_the_environment_never_verifies(
    key_home: Path, monkeypatch: pytest.MonkeyPatch, make_user: Any
) -> None:
    """Even an app started without ``serve`` (plain uvicorn) never accepts the old default."""
    from geo.access.tokens import create_token, decode_token

    monkeypatch.setenv("GOLDENTIME_SECRET_KEY", OLD_DEFAULT_SECRET)
    get_settings.cache_clear()
    u = make_user("keys-env-user")
    with pytest.raises(Unauthorized):
        decode_token(_forge(OLD_DEFAULT_SECRET, u.id, u.username))
    tok, _ = create_token(u)  # signed by the random file key instead
    assert jwt.get_unverified_header(tok)["kid"] != keys.ENV_KID
    assert decode_token(tok)["sub"] == u.username


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        (OLD_DEFAULT_SECRET, "old default"),
        ("", "empty"),
        ("   ", "empty"),
        ("short-secret", "shorter than 32"),
    ],
)
def test_serve_refuses_a_weak_key_unless_dev_mode(
    key_home: Path, monkeypatch: pytest.MonkeyPatch, secret: str, why: str
) -> None:
    from api.server import check_keys

    monkeypatch.setenv("GOLDENTIME_SECRET_KEY", secret)
    get_settings.cache_clear()
    with pytest.raises(InvalidInput, match=why) as e:
        check_keys()
    assert e.value.field == "GOLDENTIME_SECRET_KEY"
    assert "goldentime keys rotate" in e.value.message and "Unset" in e.value.message
    monkeypatch.setenv("GOLDENTIME_DEV_MODE", "1")
    get_settings.cache_clear()
    assert check_keys()  # dev mode: starts, with a warning


def test_serve_command_refuses_the_old_default_key(
    key_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.setenv("GOLDENTIME_SECRET_KEY", OLD_DEFAULT_SECRET)
    get_settings.cache_clear()
    res = CliRunner().invoke(app, ["serve", "--port", "8199"])
    assert res.exit_code == 2
    assert "refusing to start" in res.output and "GOLDENTIME_SECRET_KEY" in res.output


def test_first_run_makes_a_private_random_key(key_home: Path) -> None:
    from api.server import check_keys

    kid = check_keys()  # what `goldentime serve` (and `make run`) does first
    folder = key_home / "keys"
    files = list(folder.glob("*.json"))
    assert [f.stem for f in files] == [kid]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert len(keys.key_ring().keys[kid].secret) >= 64  # token_urlsafe(48)
    assert check_keys() == kid  # made once


def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key(
    key_home: Path, make_user: Any, auth_client: Any
) -> None:
    from geo.access.tokens import create_token, decode_token

    u = make_user("keys-rotate")
    old_kid = keys.ensure_key().kid
    old_tok, _ = create_token(u)
    assert jwt.get_unverified_header(old_tok)["kid"] == old_kid
    new = keys.rotate()
    new_tok, _ = create_token(u)
    assert jwt.get_unverified_header(new_tok)["kid"] == new.kid != old_kid
    anon = auth_client(None)
    for tok in (old_tok, new_tok):  # nobody is logged out by the rotation
        r = anon.get("/api/auth/me", headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 200, r.text
    for f in (key_home / "keys").glob("*.json"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    # once the longest token lifetime has passed, the old key verifies nothing
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=keys.grace_s() + 60)
    assert set(keys.key_ring(now=later).keys) == {new.kid}
    keys.rotate(now=later)  # and the next rotation deletes it
    assert not (key_home / "keys" / f"{old_kid}.json").exists()
    keys._RING.clear()
    with pytest.raises(Unauthorized, match="unknown or retired key id"):
        decode_token(old_tok)


def test_keys_cli_rotate_and_list(key_home: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    first = runner.invoke(app, ["keys", "rotate"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["keys", "rotate"])
    assert second.exit_code == 0, second.output
    out = runner.invoke(app, ["keys", "list"])
    assert out.exit_code == 0, out.output
    ring = keys.key_ring()
    assert ring.current is not None and len(ring.keys) == 2
    lines = [ln for ln in out.output.splitlines() if ln.startswith("  ")]
    assert len(lines) == 2 and ring.current.kid in lines[-1] and "current" in lines[-1]
    assert "current" not in lines[0]
    assert "secret" not in out.output and ring.current.secret not in out.output


def test_environment_key_keeps_working_with_a_fixed_kid(make_user: Any, auth_client: Any) -> None:
    """tests/conftest.py sets GOLDENTIME_SECRET_KEY: it signs, as key id 'env'."""
    from geo.access.tokens import create_token

    u = make_user("keys-env")
    tok, _ = create_token(u)
    assert jwt.get_unverified_header(tok)["kid"] == keys.ENV_KID
    r = auth_client(None).get("/api/auth/me", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200, r.text
