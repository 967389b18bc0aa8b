"""Atomic counters in PostgreSQL: the login throttle and the bounded audit of refusals.

A counter is one row of ``rate_counters`` (migration ``0009_login_throttle``) per (scope, key),
bumped with one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``: the row lock makes every
count exact however many workers and threads race (a count read first and written later is
not). A window starts at the first event and lasts ``window_s``; the first event after it
starts the next window and hands back the closed window's count once (``closed``).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from geo.access.audit import audit_detached, engine_of
from geo.settings import get_settings

_BUMP_SQL = text("""
    insert into rate_counters as r (scope, key, first_at, count)
    values (:scope, :key, now(), 1)
    on conflict (scope, key) do update set
        prev_count = case when r.first_at <= now() - make_interval(secs => :w)
                          then r.count else r.prev_count end,
        prev_first_at = case when r.first_at <= now() - make_interval(secs => :w)
                             then r.first_at else r.prev_first_at end,
        count = case when r.first_at <= now() - make_interval(secs => :w)
                     then 1 else r.count + 1 end,
        first_at = case when r.first_at <= now() - make_interval(secs => :w)
                        then now() else r.first_at end
    returning count as n, first_at, prev_count, prev_first_at, (xmax = 0) as inserted,
              greatest(extract(epoch from first_at + make_interval(secs => :w) - now()), 0)
                  as remaining_s""")

_PURGE_SQL = text("delete from rate_counters where first_at < now() - make_interval(secs => :s)")

#: Counter rows older than this are deleted now and then (any window is far shorter).
PURGE_AFTER_S = 7 * 86400


@dataclass(frozen=True)
class Count:
    """One bump's result: events in the current window (this one included), when it began,
    seconds until it ends, and the count of the window this bump closed (0 when none)."""

    count: int
    first_at: dt.datetime
    remaining_s: float
    closed: int
    closed_first_at: dt.datetime | None


def bump(conn: Connection | Session, *, scope: str, key: str, window_s: float) -> Count:
    """Count one event for (``scope``, ``key``) atomically; the caller commits (soon: the row
    stays locked for concurrent bumps of the same key until then)."""
    row = conn.execute(_BUMP_SQL, {"scope": scope, "key": key, "w": float(window_s)}).one()
    if row.inserted and random.random() < 0.01:  # noqa: S311 - housekeeping, not security
        conn.execute(_PURGE_SQL, {"s": PURGE_AFTER_S})
    reset = not row.inserted and row.n == 1
    return Count(
        count=int(row.n),
        first_at=row.first_at,
        remaining_s=float(row.remaining_s),
        closed=int(row.prev_count) if reset else 0,
        closed_first_at=row.prev_first_at if reset else None,
    )


def clean_text(value: str | None, limit: int = 64) -> str | None:
    """``value`` fit for the audit log: NUL and other control characters dropped, cut to
    ``limit`` characters (a user name tried, read from an unverified token or a form)."""
    if value is None:
        return None
    out = "".join(ch for ch in str(value) if ch >= " " and ch != "\x7f")
    return out[:limit]


def audit_refusal(
    session_or_engine: Session | Engine,
    *,
    client_ip: str | None,
    action: str,
    reason: str,
    username: str | None = None,
    detail: dict[str, Any] | None = None,
    **fields: Any,
) -> bool:
    """Audit a refusal of an unauthenticated caller, at most ``settings.refusal_audit_max`` rows
    per client address per ``refusal_audit_window_s``, so a flood cannot fill the log.

    Counted in PostgreSQL (all workers share the budget). The first refusal after a window in
    which some were suppressed first writes one summary ``denied`` row "suppressed K more".
    Committed at once in its own transaction; returns whether this refusal got its own row.
    """
    s = get_settings()
    eng = session_or_engine if isinstance(session_or_engine, Engine) else None
    if eng is None:
        assert isinstance(session_or_engine, Session)
        eng = engine_of(session_or_engine)
    ip = clean_text(client_ip, 64) or ""
    with eng.begin() as conn:
        c = bump(conn, scope="refusal", key=ip, window_s=s.refusal_audit_window_s)
    if c.closed > s.refusal_audit_max:
        assert c.closed_first_at is not None
        k = c.closed - s.refusal_audit_max
        since = c.closed_first_at
        _audit_engine(
            eng,
            action="denied",
            client_ip=client_ip,
            reason=f"suppressed {k} more refusals from {ip} in the "
            f"{s.refusal_audit_window_s} s from {since.isoformat()}",
            detail={"code": "suppressed", "suppressed": k, "window_start": since.isoformat()},
        )
    if c.count > s.refusal_audit_max:
        return False
    _audit_engine(
        eng,
        action=action,
        client_ip=client_ip,
        username=clean_text(username),
        reason=reason,
        detail=detail,
        **fields,
    )
    return True


class _EngineSession:
    """The minimum of a Session that :func:`audit_detached` needs (its engine)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get_bind(self) -> Engine:
        return self.engine


def _audit_engine(engine: Engine, **kw: Any) -> int:
    return audit_detached(_EngineSession(engine), **kw)  # type: ignore[arg-type]
