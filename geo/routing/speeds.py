"""The one speed model: nominal speeds per mode and the plausible range around them.

Every road time in the product comes from here: the graph's arc weights (nominal seconds), the
review windows of routes and tracks (fastest / slowest plausible), the feasibility of a track's
hops and the reachable sets (fastest plausible). Driving speeds per edge are the loaded
``road_edges.speed_kph`` (OSM maxspeed or the class default of
:data:`geo.load.osm.DEFAULT_SPEED_KPH`); walking is one constant speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from geo.errors import InvalidInput

Mode = Literal["walk", "drive"]
MODES: tuple[str, ...] = ("walk", "drive")

WALK_SPEED_KPH = 5.0  # nominal walking speed
WALK_SPEED_RANGE_KPH = (3.0, 7.0)  # slowest / fastest plausible walking (review windows)
WALK_RUN_CAP_KPH = 15.0  # a sustained run: faster than this on foot is infeasible
DRIVE_FAST_FACTOR = 1.5  # fastest plausible driving: 1.5 x the posted/default speed...
DRIVE_CAP_KPH = 130.0  # ...but never above this
DRIVE_SLOW_FACTOR = 0.3  # slowest plausible driving (congestion): 0.3 x posted speed...
DRIVE_SLOW_MIN_KPH = 5.0  # ...but at least walking pace


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES`, else InvalidInput naming the field."""
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}, not {mode!r}", field="mode")
    return mode


def nominal_kph(mode: str, speed_kph: np.ndarray) -> np.ndarray:
    """Nominal speed per edge in km/h for ``mode`` (``speed_kph``: the edges' driving speeds)."""
    if mode == "walk":
        return np.full(len(speed_kph), WALK_SPEED_KPH)
    return np.asarray(speed_kph, dtype=float)


@dataclass(frozen=True)
class SpeedRange:
    """Plausible speeds for review windows: walking km/h, or driving relative to posted speeds."""

    mode: str
    min_kph: float
    max_kph: float

    @classmethod
    def for_mode(
        cls, mode: str, *, min_kph: float | None = None, max_kph: float | None = None
    ) -> SpeedRange:
        """Defaults: walk 3-7 km/h; drive DRIVE_SLOW_MIN_KPH..DRIVE_CAP_KPH (as clamps)."""
        if mode == "walk":
            lo, hi = WALK_SPEED_RANGE_KPH
        else:
            lo, hi = DRIVE_SLOW_MIN_KPH, DRIVE_CAP_KPH
        lo = lo if min_kph is None else float(min_kph)
        hi = hi if max_kph is None else float(max_kph)
        if not (0 < lo <= hi) or not math.isfinite(hi):
            raise InvalidInput(
                f"speed range must satisfy 0 < min_kph <= max_kph (got {lo}..{hi})",
                field="speed_range",
            )
        if hi > 400:
            raise InvalidInput("speed range max_kph above 400 km/h", field="speed_range.max_kph")
        return cls(mode, lo, hi)

    def fast(self, nominal_kph: np.ndarray) -> np.ndarray:
        """Fastest plausible speed per piece."""
        if self.mode == "walk":
            return np.full(len(nominal_kph), self.max_kph)
        return np.minimum(nominal_kph * DRIVE_FAST_FACTOR, self.max_kph)

    def slow(self, nominal_kph: np.ndarray) -> np.ndarray:
        """Slowest plausible speed per piece."""
        if self.mode == "walk":
            return np.full(len(nominal_kph), self.min_kph)
        return np.minimum(np.maximum(nominal_kph * DRIVE_SLOW_FACTOR, self.min_kph), self.max_kph)


def drive_cap_kph(nominal: np.ndarray) -> np.ndarray:
    """Fastest feasible driving per piece (a track hop faster than this is infeasible)."""
    return np.minimum(nominal * DRIVE_FAST_FACTOR, DRIVE_CAP_KPH)
