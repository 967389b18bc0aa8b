"""Choosing a metric CRS once per area: EPSG:5179 (UTM-K) in Korea, the UTM zone elsewhere."""

from __future__ import annotations

from typing import Any

import numpy as np
from pyproj import CRS, Proj

KOREA_BOUNDS = (124.0, 33.0, 132.0, 39.0)  # lon/lat envelope where EPSG:5179 is used


def metric_crs_for(lon: float, lat: float) -> int:
    """EPSG code of the metric CRS for a place: 5179 inside Korea, else its WGS84 UTM zone."""
    x0, y0, x1, y1 = KOREA_BOUNDS
    if x0 <= lon <= x1 and y0 <= lat <= y1:
        return 5179
    zone = int((lon + 180) // 6) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def metric_crs_for_points(lon: np.ndarray, lat: np.ndarray) -> int:
    """One metric CRS for a set of points (chosen at their median)."""
    return metric_crs_for(float(np.nanmedian(lon)), float(np.nanmedian(lat)))


#: Degrees a point may lie beyond its metric CRS's area of use and still be measured in it.
AREA_MARGIN_DEG = 5.0
#: Largest scale error (|k - 1|) accepted: a 50 m radius stays within 0.5 m.
MAX_SCALE_ERROR = 0.01


def held_by_crs(epsg: int, lon: np.ndarray, lat: np.ndarray, x: np.ndarray, y: np.ndarray) -> Any:
    """Which points the metric CRS ``epsg`` can hold: projected to finite ``x``/``y``, within
    :data:`AREA_MARGIN_DEG` of the CRS's area of use, with a scale error of at most
    :data:`MAX_SCALE_ERROR`. The others (polar points, another continent) would be infinite or
    measured wrongly: callers skip them and say how many."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(lon) & np.isfinite(lat)
    area = CRS.from_epsg(epsg).area_of_use
    if area is not None:
        w, s, e, n = area.bounds
        m = AREA_MARGIN_DEG
        ok &= (lat >= s - m) & (lat <= n + m) & (lon >= w - m) & (lon <= e + m)
    if ok.any():
        f = Proj(CRS.from_epsg(epsg)).get_factors(lon[ok], lat[ok], errcheck=False)
        k = np.asarray(f.meridional_scale, dtype=float)
        good = np.isfinite(k) & (np.abs(k - 1.0) <= MAX_SCALE_ERROR)
        ok[np.flatnonzero(ok)[~good]] = False
    return ok
