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


def clip_link(camera_id: int, start: dt.datetime, end: dt.datetime) -> str:
    """Playback link of a review window (served by the video API through the access gate)."""
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    t0 = start.astimezone(dt.UTC).replace(microsecond=0)
    t1 = end.astimezone(dt.UTC)
    if t1.microsecond:  # whole seconds, rounded outwards so the window is never cut short
        t1 = t1.replace(microsecond=0) + dt.timedelta(seconds=1)
    return f"/api/cameras/{camera_id}/clip.mp4?start={t0.strftime(fmt)}&end={t1.strftime(fmt)}"


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
