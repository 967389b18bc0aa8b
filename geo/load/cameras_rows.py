"""The ``cameras`` row every camera layout produces, and the checks and ids they share.

:func:`_camera_row` is the one shape of a parsed camera (the columns the row path writes, with
their defaults); :data:`PURPOSES` and :data:`KR_PURPOSE` the purpose vocabulary (Korean
설치목적구분 words are also met in traffic lists and GeoJSON properties); :func:`_row_id` the
content id of a row without an id of its own; :func:`_validate_ranges` the view-field check every
parsed row passes before it is kept.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from geo.load.common import Reject

# 설치목적구분 -> purpose
KR_PURPOSE = {
    "생활방범": "crime_prevention",
    "방범": "crime_prevention",
    "차량방범": "crime_prevention",
    "다목적": "crime_prevention",
    "어린이보호": "child_protection",
    "어린이 보호": "child_protection",
    "교통단속": "traffic",
    "교통정보수집": "traffic",
    "교통관제": "traffic",
    "교통관제용": "traffic",
    "재난재해": "disaster",
    "재난": "disaster",
    "재해": "disaster",
    "산불감시": "disaster",
}
PURPOSES = {"crime_prevention", "traffic", "child_protection", "disaster", "other"}


def _row_id(values: dict[str, str]) -> str:
    return hashlib.sha1(
        json.dumps(values, ensure_ascii=False, sort_keys=True).encode()
    ).hexdigest()[:20]


def _point_wkt(lon: float | None, lat: float | None) -> str:
    assert lon is not None and lat is not None
    return f"POINT({lon:.8f} {lat:.8f})"


def _camera_row(**kw: Any) -> dict[str, Any]:
    row = {
        "source": None,
        "external_id": None,
        "name": None,
        "purpose": "other",
        "agency": None,
        "address": None,
        "geom": None,
        "heading_deg": None,
        "fov_deg": None,
        "range_m": None,
        "tilt_deg": None,
        "camera_type": None,
        "camera_count": 1,
        "resolution_px": None,
        "ptz": False,
        "stream_url": None,
        "status": "active",
        "retention_days": None,
        "installed_on": None,
        "raw": None,
    }
    row.update(kw)
    return row


def _validate_ranges(n: int, row: dict[str, Any]) -> Reject | None:
    h, f, r = row.get("heading_deg"), row.get("fov_deg"), row.get("range_m")
    if h is not None and not 0 <= h < 360:
        return Reject(n, f"heading out of range 0..360: {h}", "heading_deg", str(h))
    if f is not None and not 0 < f <= 360:
        return Reject(n, f"field of view out of range 0..360: {f}", "fov_deg", str(f))
    if r is not None and r <= 0:
        return Reject(n, f"range must be positive: {r}", "range_m", str(r))
    return None
