"""Time stamps at the edges: everything is timezone-aware; a time without an offset is KST."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from geo.errors import InvalidInput

#: Korea Standard Time, assumed for times given without an offset (as the loaders do).
KST = ZoneInfo("Asia/Seoul")


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def aware(t: dt.datetime | None, *, field: str = "time") -> dt.datetime | None:
    """``t`` with a timezone (naive times are taken as KST); ``None`` stays ``None``."""
    if t is None:
        return None
    if not isinstance(t, dt.datetime):
        raise InvalidInput(f"{field} must be a date-time, got {t!r}", field=field)
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
