"""Choosing a metric CRS once per area: EPSG:5179 (UTM-K) in Korea, the UTM zone elsewhere."""

from __future__ import annotations

import numpy as np

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
