"""The signing keys of tokens: random, on disk in the state folder, each with an id, rotatable.

Keys live in ``settings.home / "keys"`` (folder mode 0700), one JSON file per key (mode 0600):
``{"kid": ..., "created_at": ..., "secret": ...}``. The newest key signs; every key still
within its grace period verifies. A token names its key in the JWT header (``kid``), so
:func:`rotate` can make a new signing key without logging anybody out: a previous key keeps
verifying until the longest token lifetime has passed after it stopped signing, then it is
dropped.

``GOLDENTIME_SECRET_KEY``, when set, is one more key with the fixed id :data:`ENV_KID`, and it
signs (explicit configuration wins over the files). :func:`check_signing_key` is what
``goldentime serve`` asks before starting: it refuses the repository's old default secret, an
empty or short one, unless ``GOLDENTIME_DEV_MODE=1``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from geo.errors import InvalidInput, Unavailable
from geo.settings import Settings, get_settings

#: The key id of ``GOLDENTIME_SECRET_KEY``.
ENV_KID = "env"
#: The secret that shipped in the repository's settings before keys existed: never accepted.
OLD_DEFAULT_SECRET = "change-me-in-production-goldentime"
#: Shortest secret ``serve`` accepts (HS256 wants at least 256 bits of key).
MIN_SECRET_CHARS = 32
#: Seconds a process trusts its in-memory key ring before looking at the folder again.
RELOAD_S = 5.0


@dataclass(frozen=True)
class Key:
    """One signing key: id, secret and when it was made (``None`` for the environment's)."""

    kid: str
    secret: str
    created_at: dt.datetime | None


@dataclass(frozen=True)
class KeyRing:
    """The key that signs and every key that verifies, by id."""

    current: Key | None
    keys: dict[str, Key]


def keys_dir(settings: Settings | None = None) -> Path:
    """The folder holding the key files (``<home>/keys``)."""
    return (settings or get_settings()).home / "keys"


def grace_s(settings: Settings | None = None) -> int:
    """How long a key verifies after it stopped signing: the longest token lifetime."""
    s = settings or get_settings()
    return max(int(s.token_ttl_s), int(s.media_token_ttl_s))


def _read(path: Path) -> Key | None:
    try:
        d = json.loads(path.read_text())
        created = dt.datetime.fromisoformat(d["created_at"])
        return Key(kid=str(d["kid"]), secret=str(d["secret"]), created_at=created)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a half-written or foreign file is not a key


def stored_keys(settings: Settings | None = None) -> list[Key]:
    """Every readable key file, oldest first (the last one signs)."""
    folder = keys_dir(settings)
    if not folder.is_dir():
        return []
    found = [k for p in folder.glob("*.json") if (k := _read(p)) is not None]
    return sorted(found, key=lambda k: k.created_at or dt.datetime.min.replace(tzinfo=dt.UTC))


def _live(keys: list[Key], *, now: dt.datetime, grace: int) -> list[Key]:
    """``keys`` (oldest first) without those retired more than ``grace`` seconds ago."""
    out = []
    for i, k in enumerate(keys):
        successor = keys[i + 1] if i + 1 < len(keys) else None
        retired = successor.created_at if successor is not None else None
        if retired is None or retired + dt.timedelta(seconds=grace) > now:
            out.append(k)
    return out


def _write_key(folder: Path, key: Key) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    assert key.created_at is not None
    body = json.dumps(
        {"kid": key.kid, "created_at": key.created_at.isoformat(), "secret": key.secret}
    )
    tmp = folder / f".{key.kid}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, body.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, folder / f"{key.kid}.json")


def _new_key(now: dt.datetime) -> Key:
    kid = now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)
    return Key(kid=kid, secret=secrets.token_urlsafe(48), created_at=now)


def ensure_key(settings: Settings | None = None) -> Key:
    """The newest stored key, creating the first one (random, 0600) when there is none."""
    s = settings or get_settings()
    keys = stored_keys(s)
    if keys:
        return keys[-1]
    key = _new_key(dt.datetime.now(dt.UTC))
    try:
        _write_key(keys_dir(s), key)
    except OSError as e:
        raise Unavailable(
            f"cannot write a signing key under {keys_dir(s)}: {e}", field="home"
        ) from None
    _RING.clear()
    return key


def rotate(settings: Settings | None = None, *, now: dt.datetime | None = None) -> Key:
    """Make a new signing key; older keys verify for :func:`grace_s` more, expired ones are
    deleted. Returns the new key."""
    s = settings or get_settings()
    now = now or dt.datetime.now(dt.UTC)
    folder = keys_dir(s)
    key = _new_key(now)
    _write_key(folder, key)
    keep = {k.kid for k in _live(stored_keys(s), now=now, grace=grace_s(s))}
    for k in stored_keys(s):
        if k.kid not in keep:
            (folder / f"{k.kid}.json").unlink(missing_ok=True)
    _RING.clear()
    return key


def key_ring(settings: Settings | None = None, *, now: dt.datetime | None = None) -> KeyRing:
    """The keys as they are now: the environment's key (if set, and strong unless in dev mode)
    signs, else the newest file."""
    s = settings or get_settings()
    now = now or dt.datetime.now(dt.UTC)
    files = _live(stored_keys(s), now=now, grace=grace_s(s))
    keys = {k.kid: k for k in files}
    current = files[-1] if files else None
    # a weak key from the environment never signs nor verifies, also when the app is started
    # without ``serve`` (plain uvicorn): the files' key does; dev mode allows it
    if s.secret_key is not None and (s.dev_mode or weak_secret_reason(s.secret_key) is None):
        env = Key(kid=ENV_KID, secret=s.secret_key, created_at=None)
        keys[ENV_KID] = env
        current = env
    return KeyRing(current=current, keys=keys)


class _RingCache:
    """The process's key ring, re-read when the key folder or the settings change (looked at
    every :data:`RELOAD_S`), at least every minute (keys retire with time), and at most once a
    second on demand, when a token names a key id this process has not seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ring: KeyRing | None = None
        self.stamp: tuple[object, ...] = ()
        self.checked = self.loaded = self.forced = 0.0

    def clear(self) -> None:
        with self.lock:
            self.ring, self.stamp = None, ()

    def get(self, *, force: bool = False) -> KeyRing:
        s = get_settings()
        mono = time.monotonic()
        conf = (str(keys_dir(s)), s.secret_key, s.token_ttl_s, s.media_token_ttl_s)
        with self.lock:
            if force and mono - self.forced < 1.0:
                force = False
            fresh = mono - self.checked < RELOAD_S and mono - self.loaded < 60.0
            if self.ring is not None and not force and fresh and self.stamp[:4] == conf:
                return self.ring
            try:
                mtime: object = keys_dir(s).stat().st_mtime_ns
            except OSError:
                mtime = None
            stamp = (*conf, mtime)
            if self.ring is None or force or stamp != self.stamp or mono - self.loaded >= 60.0:
                self.ring, self.stamp, self.loaded = key_ring(s), stamp, mono
                if force:
                    self.forced = mono
            self.checked = mono
            return self.ring


_RING = _RingCache()


def signing_key() -> Key:
    """The key that signs new tokens (the first file key is made when there is none)."""
    ring = _RING.get()
    if ring.current is None:
        ensure_key()
        ring = _RING.get(force=True)
    assert ring.current is not None
    return ring.current


def verification_key(kid: str) -> Key | None:
    """The key with id ``kid`` if it may still verify tokens (re-reads the folder once for an
    id not seen yet, so a key rotated in by another process is found)."""
    key = _RING.get().keys.get(kid)
    if key is None:
        key = _RING.get(force=True).keys.get(kid)
    return key


def weak_secret_reason(secret: str | None) -> str | None:
    """Why ``secret`` must not sign tokens, or ``None`` when it may."""
    if secret is None:
        return None
    if secret == OLD_DEFAULT_SECRET:
        return "GOLDENTIME_SECRET_KEY is the old default secret published in the repository"
    if not secret.strip():
        return "GOLDENTIME_SECRET_KEY is empty"
    if len(secret) < MIN_SECRET_CHARS:
        return f"GOLDENTIME_SECRET_KEY is shorter than {MIN_SECRET_CHARS} characters"
    return None


def check_signing_key(settings: Settings | None = None) -> Key:
    """What ``serve`` asks before starting: the effective signing key, made when missing.

    Raises :class:`InvalidInput` (field ``GOLDENTIME_SECRET_KEY``) saying what to do when the
    key from the environment is the old default, empty or short, unless ``dev_mode``.
    """
    s = settings or get_settings()
    why = weak_secret_reason(s.secret_key)
    if why is not None and not s.dev_mode:
        raise InvalidInput(
            f"refusing to start: {why}. Unset GOLDENTIME_SECRET_KEY to use the random key in "
            f"{keys_dir(s)} (made on first run; `goldentime keys rotate` makes a new one), or "
            f"set it to a long random value (python3 -c 'import secrets; "
            f"print(secrets.token_urlsafe(48))'); GOLDENTIME_DEV_MODE=1 starts anyway, for "
            f"development only",
            field="GOLDENTIME_SECRET_KEY",
        )
    if s.secret_key is None:
        ensure_key(s)
    _RING.clear()
    ring = key_ring(s)
    assert ring.current is not None
    return ring.current
