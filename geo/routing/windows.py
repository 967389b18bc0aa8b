"""Camera review windows: when a person moving along a route can be in a camera's view.

A window runs from the earliest time the person can reach the first metre a camera sees to the
latest time they can still be at the last one; times along a route come from per-piece speeds
(:mod:`geo.routing.speeds`). Each window carries its playback link (served through the access
gate by the video API).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np

from geo.errors import InvalidInput

if TYPE_CHECKING:
    from geo.routing.routes import Route


def _cum_time(r: Route, speeds_kph: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(r.piece_m / (speeds_kph / 3.6))])


def time_at(r: Route, speeds_kph: np.ndarray, d_m: float) -> float:
    """Seconds to cover the first ``d_m`` metres of ``r`` at per-piece ``speeds_kph``."""
    return float(np.interp(d_m, r.cumulative_m(), _cum_time(r, speeds_kph)))


_SECOND = dt.timedelta(seconds=1)


def _utc_s(t: dt.datetime, *, up: bool) -> str:
    """``t`` in UTC to the whole second (``up``: rounded up), as ``YYYY-MM-DDTHH:MM:SSZ``
    (the ISO text cut after the seconds: no strftime, which costs several times more)."""
    if t.utcoffset():
        t = t.astimezone(dt.UTC)
    if up and t.microsecond:
        t += _SECOND
    return t.isoformat()[:19] + "Z"


def clip_link(camera_id: int, start: dt.datetime, end: dt.datetime) -> str:
    """Playback link of a review window (served by the video API through the access gate):
    whole seconds, rounded outwards so the window is never cut short."""
    return (
        f"/api/cameras/{camera_id}/clip.mp4?start={_utc_s(start, up=False)}"
        f"&end={_utc_s(end, up=True)}"
    )


def _window(camera_id: int, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    if end < start:
        start, end = end, start
    return {
        "expected_from": start.isoformat(),
        "expected_to": end.isoformat(),
        "review_s": round((end - start).total_seconds(), 1),
        "playback": clip_link(camera_id, start, end),
    }


def _aware(t: dt.datetime | None, field: str) -> dt.datetime:
    if t is None:
        return dt.datetime.now(dt.UTC)
    if t.tzinfo is None:
        raise InvalidInput(
            f"{field} needs a time zone (e.g. 2026-05-01T14:02:00+09:00)", field=field
        )
    return t


_US = dt.timedelta(microseconds=1)


def _micros(seconds: list[float]) -> np.ndarray:
    """Whole microseconds of ``timedelta(seconds=x)`` for each x, exactly as it rounds them
    (whole seconds first, then the fraction, half to even); a loop for negative values."""
    x = np.asarray(seconds, dtype=float)
    if not len(x) or x.min() < 0 or not np.isfinite(x).all():
        return np.array([dt.timedelta(seconds=v) // _US for v in seconds], dtype=np.int64)
    whole = np.floor(x)
    return whole.astype(np.int64) * 1_000_000 + np.rint((x - whole) * 1e6).astype(np.int64)


def windows(
    camera_ids: list[int], from_s: list[float], to_s: list[float], *, start: dt.datetime
) -> list[dict[str, Any]]:
    """:func:`_window` for many cameras at once: ``from_s``/``to_s`` are seconds after
    ``start`` (texts from :func:`window_columns`)."""
    return [
        {"expected_from": a, "expected_to": b, "review_s": r, "playback": x}
        for a, b, r, x in window_columns(camera_ids, from_s, to_s, start=start)
    ]


def window_columns(
    camera_ids: list[int], from_s: list[float], to_s: list[float], *, start: dt.datetime
) -> list[tuple[str, str, float, str]]:
    """Per camera ``(expected_from, expected_to, review_s, playback)`` of :func:`_window` for
    the window ``start + from_s .. start + to_s`` (seconds). With a fixed UTC offset (what the
    API parses) the texts are made by numpy in a few calls, identical to ``isoformat`` /
    :func:`clip_link` (per-camera datetime formatting cost more than the route itself);
    otherwise one :func:`_window` per camera."""
    tz = start.tzinfo
    off = tz.utcoffset(None) if tz is not None else None
    if off is None or off != start.utcoffset() or not camera_ids:
        out = []
        for c, a, b in zip(camera_ids, from_s, to_s, strict=True):
            w = _window(c, start + dt.timedelta(seconds=a), start + dt.timedelta(seconds=b))
            out.append((w["expected_from"], w["expected_to"], w["review_s"], w["playback"]))
        return out
    u0, u1 = _micros(from_s), _micros(to_s)
    u0, u1 = np.minimum(u0, u1), np.maximum(u0, u1)
    naive = start.replace(tzinfo=None)
    suffix = start.isoformat()[len(naive.isoformat()) :]
    base = np.datetime64(naive, "us")
    t0, t1 = base + u0.astype("timedelta64[us]"), base + u1.astype("timedelta64[us]")
    utc = base - np.timedelta64(off // _US, "us")
    s0 = (utc + u0.astype("timedelta64[us]")).astype("datetime64[s]")  # floor: whole seconds
    s1 = (utc + (u1 + 999_999).astype("timedelta64[us]")).astype("datetime64[s]")  # ceiling

    def iso(t: np.ndarray) -> list[str]:
        text = np.datetime_as_string(t, unit="us").tolist()
        whole = (t.astype(np.int64) % 1_000_000 == 0).tolist()
        return [x[:19] + suffix if w else x + suffix for x, w in zip(text, whole, strict=True)]

    l0 = np.datetime_as_string(s0, unit="s").tolist()
    l1 = np.datetime_as_string(s1, unit="s").tolist()
    links = [
        f"/api/cameras/{c}/clip.mp4?start={x}Z&end={y}Z"
        for c, x, y in zip(camera_ids, l0, l1, strict=True)
    ]
    review = [round(x, 1) for x in ((u1 - u0) / 1e6).tolist()]
    return list(zip(iso(t0), iso(t1), review, links, strict=True))
