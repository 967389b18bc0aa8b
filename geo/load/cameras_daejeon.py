"""The Daejeon 2015 facility inventory (layouts ``daejeon-2015``, its Korean header, and
``daejeon-2015-clean``, the same columns in English).

The inventory lists every smart-city facility; the facility type code inside 분류명 says which are
cameras (and of which purpose) and which are other road-side equipment (rejected, saying what they
are). Both layouts go through one row builder, :func:`_daejeon_camera`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geo.load.cameras_rows import _camera_row, _point_wkt
from geo.load.common import Reject, check_wgs84, parse_float

# Daejeon 2015 facility type code (characters 6-11 of 분류명) -> purpose; other CTV* -> other
DAEJEON_CAMERA_TYPES = {
    "CTVPOC": "crime_prevention",
    "POCCTV": "crime_prevention",
    "VDSIMG": "traffic",
    "CTVLPC": "traffic",
}
DAEJEON_NON_CAMERA = {
    "BITBIT": "bus information terminal",
    "RSERSE": "road-side unit",
    "VMSTRF": "variable message sign",
    "VMSVMS": "variable message sign",
    "VMSFCL": "variable message sign",
}


def _daejeon_raw(facility_id: str, name: str, address: str, address_old: str, updated: str) -> dict:
    return {
        "facility_id": facility_id,
        "name": name,
        "address": address,
        "address_old": address_old,
        "updated_at": updated,
    }


def _daejeon_camera(
    n: int,
    fid: str,
    name: str,
    address: str,
    address_old: str,
    lat_s: str,
    lon_s: str,
    updated: str,
) -> dict[str, Any] | Reject:
    ftype = fid[5:11]
    if not ftype.startswith("CTV") and ftype not in DAEJEON_CAMERA_TYPES:
        what = DAEJEON_NON_CAMERA.get(ftype, "not a CCTV facility type")
        return Reject(n, f"not a camera: facility type {ftype} ({what})", "분류명", fid)
    lat, lon = parse_float(lat_s), parse_float(lon_s)
    if (why := check_wgs84(lat, lon)) is not None:
        return Reject(n, why, "위도/경도", f"{lat_s},{lon_s}")
    assert lat is not None and lon is not None
    if not (33.0 <= lat <= 39.0 and 124.0 <= lon <= 132.0):
        return Reject(
            n, f"coordinates outside Korea: lat {lat}, lon {lon}", "위도/경도", f"{lat_s},{lon_s}"
        )
    ctype = "dome" if "(돔)" in name else ("fixed" if "(고정)" in name else None)
    updated_at = None
    try:
        updated_at = dt.datetime.fromisoformat(updated) if updated else None
    except ValueError:
        return Reject(n, "unparseable update time", "업데이트일시", updated)
    return _camera_row(
        source="daejeon-2015",
        external_id=fid,
        name=name or None,
        purpose=DAEJEON_CAMERA_TYPES.get(ftype, "other"),
        agency="대전광역시 (스마트시티 통합플랫폼)",
        address=address or address_old or None,
        geom=_point_wkt(lon, lat),
        camera_type=ctype,
        ptz=ctype == "dome",
        raw={
            **_daejeon_raw(fid, name, address, address_old, updated),
            "facility_type": ftype,
            "recorded_at": updated_at.isoformat() if updated_at else None,
        },
    )


def _from_daejeon_2015(n: int, r: dict[str, str]) -> dict[str, Any] | Reject:
    return _daejeon_camera(
        n,
        r["분류명"],
        r.get("번호", ""),
        r.get("현재주소", ""),
        r.get("예전주소", ""),
        r.get("위도", ""),
        r.get("경도", ""),
        r.get("업데이트일시", ""),
    )


def _from_daejeon_clean(n: int, r: dict[str, str]) -> dict[str, Any] | Reject:
    return _daejeon_camera(
        n,
        r["facility_id"],
        r.get("name", ""),
        r.get("address", ""),
        r.get("address_old", ""),
        r.get("lat", ""),
        r.get("lon", ""),
        r.get("updated_at", ""),
    )
