"""OSM tag values and the tables that interpret them: ``maxspeed``, ``height`` and
``building:levels`` parsers, the default speed of each ``highway`` class, which classes a car may
use, and the fixed WKT precision every OSM-derived row is written with.

Kept apart from the file readers and the loaders because these pure functions and constants are
shared by every road and building loader (OSM files in :mod:`geo.load.osm_roads` and
:mod:`geo.load.osm_buildings`, GeoJSON / Shapefile lines in :mod:`geo.load.lines`, GeoJSON /
Overpass buildings in :mod:`geo.load.buildings`): one place for one rule.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

# Default speeds (km/h) by OSM highway class when ``maxspeed`` is missing or unreadable: urban
# values (the sample areas are city centres), close to osmnx's and OSRM's car profile defaults.
DEFAULT_SPEED_KPH: dict[str, float] = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 80.0,
    "trunk_link": 50.0,
    "primary": 50.0,
    "primary_link": 40.0,
    "secondary": 50.0,
    "secondary_link": 40.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "living_street": 10.0,
    "service": 20.0,
    "road": 30.0,
    "busway": 30.0,
    "track": 15.0,
}
# classes without a car speed (footway, cycleway, steps, ...): a walking pace, only used for
# ``travel_time_s`` of non-drivable edges
NON_DRIVABLE_SPEED_KPH = 5.0

# highway classes a car may use (osmnx's "drive_service" idea); ``access=no`` also excludes an edge
DRIVABLE_HIGHWAYS = frozenset(
    {
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "primary",
        "primary_link",
        "secondary",
        "secondary_link",
        "tertiary",
        "tertiary_link",
        "unclassified",
        "residential",
        "living_street",
        "service",
        "road",
    }
)
NO_ACCESS = frozenset({"no"})

# Zone-style maxspeed values (``FI:urban``, ``DE:zone30``...) and words
MAXSPEED_WORDS: dict[str, float] = {
    "walk": 7.0,
    "living_street": 10.0,
    "urban": 50.0,
    "rural": 80.0,
    "motorway": 120.0,
    "zone30": 30.0,
    "zone:30": 30.0,
}
MPH = 1.609344
WKT_DECIMALS = 7  # ~1 cm; a fixed precision makes re-loads byte-identical (idempotence)


def _first(v: Any) -> Any:
    """First element of an osmnx list attribute (merged ways), else the value itself."""
    if isinstance(v, list | tuple):
        return v[0] if v else None
    return v


def _as_list(v: Any) -> list[Any]:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return []
    if isinstance(v, list | tuple):
        return list(v)
    return [v]


def parse_maxspeed(value: Any) -> float | None:
    """OSM ``maxspeed`` (``"50"``, ``"30 mph"``, ``"FI:urban"``, ``"walk"``, lists) in km/h.

    For a merged edge carrying several values, the lowest one is taken (conservative for a
    vehicle's earliest arrival). ``None`` when nothing usable is found (``"none"``, ``"signals"``).
    """
    speeds: list[float] = []
    for raw in _as_list(value):
        for part in re.split(r"[;|]", str(raw)):
            p = part.strip().lower()
            if not p:
                continue
            m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?", p)
            if m:
                v = float(m.group(1)) * (MPH if m.group(2) == "mph" else 1.0)
                if 0 < v <= 300:
                    speeds.append(v)
                continue
            word = p.split(":", 1)[-1] if ":" in p and not p.startswith("zone") else p
            if word in MAXSPEED_WORDS:
                speeds.append(MAXSPEED_WORDS[word])
            elif m2 := re.search(r"zone:?(\d+)", p):
                speeds.append(float(m2.group(1)))
    return min(speeds) if speeds else None


def parse_height_m(value: Any) -> float | None:
    """OSM ``height`` (``"12"``, ``"12 m"``, ``"12.5m"``, ``"40'"``) in metres, else ``None``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    s = str(value).strip().lower().replace(",", ".")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(m|meters|metres|ft|')?", s)
    if not m:
        return None
    v = float(m.group(1)) * (0.3048 if m.group(2) in ("ft", "'") else 1.0)
    return v if 0 < v < 1000 else None


def parse_levels(value: Any) -> float | None:
    """OSM ``building:levels`` as a number (``"5"``, ``"5.5"``; ``"3;4"`` takes the highest)."""
    vals = []
    for raw in _as_list(value):
        for p in re.split(r"[;,]", str(raw)):
            try:
                f = float(p.strip())
            except ValueError:
                continue
            if math.isfinite(f) and 0 <= f < 300:
                vals.append(f)
    return max(vals) if vals else None


def _json_safe(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k == "geometry":
            continue
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            continue
        if isinstance(v, list | tuple):
            v = [x.item() if isinstance(x, np.generic) else x for x in v]
        out[k] = v
    return out


def _isnull(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    try:
        return bool(v != v)  # pandas NA
    except (TypeError, ValueError):
        return False
