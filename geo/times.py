"""Time stamps at the edges: everything is timezone-aware; a time without an offset is KST."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from geo.errors import InvalidInput

#: Korea Standard Time, assumed for times given without an offset (as the loaders do).
KST = ZoneInfo("Asia/Seoul")

#: Years a time stamp at the edge may have (inclusive). Year 1 or 9999 overflows time-zone
#: arithmetic and cannot be read back from PostgreSQL; nothing this service does is older.
SANE_YEARS = (1970, 2100)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def aware(t: dt.datetime | None, *, field: str = "time") -> dt.datetime | None:
    """``t`` with a timezone (naive times are taken as KST); ``None`` stays ``None``.

    A year outside :data:`SANE_YEARS` is refused naming ``field``, so it never reaches a query
    or the audit log.
    """
    if t is None:
        return None
    if not isinstance(t, dt.datetime):
        raise InvalidInput(f"{field} must be a date-time, got {t!r}", field=field)
    lo, hi = SANE_YEARS
    if not lo <= t.year <= hi:
        raise InvalidInput(
            f"{field}: the year must be within {lo}..{hi}, got {t.year}", field=field
        )
    return t if t.tzinfo is not None else t.replace(tzinfo=KST)


def check_window(
    start: dt.datetime | None,
    end: dt.datetime | None,
    *,
    start_field: str = "start",
    end_field: str = "end",
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Both ends made aware, and ``start <= end`` enforced naming the field."""
    s, e = aware(start, field=start_field), aware(end, field=end_field)
    if s is not None and e is not None and s > e:
        raise InvalidInput(f"{start_field} must not be after {end_field}", field=start_field)
    return s, e
