"""The data.go.kr traffic-CCTV list (layout ``kr-traffic-api``: ``manageNo``, ``mgcNm``, ``lat``,
``lon``, ...): one camera a row, ``traffic`` unless its ``cctvNm`` names another purpose."""

from __future__ import annotations

from typing import Any

from geo.load.cameras_rows import KR_PURPOSE, _camera_row, _point_wkt
from geo.load.common import Reject, check_wgs84, parse_float


def _from_kr_traffic(n: int, r: dict[str, str]) -> dict[str, Any] | Reject:
    lat, lon = parse_float(r.get("lat")), parse_float(r.get("lon"))
    if (why := check_wgs84(lat, lon)) is not None:
        return Reject(n, why, "lat/lon", f"{r.get('lat')},{r.get('lon')}")
    if not r.get("manageNo"):
        return Reject(n, "missing management number", "manageNo", "")
    return _camera_row(
        source="kr-traffic-api",
        external_id=f"{r.get('mgcNm', '')}:{r['manageNo']}",
        name=r["manageNo"],
        purpose=KR_PURPOSE.get(r.get("cctvNm", ""), "traffic"),
        agency=r.get("mgcNm") or None,
        address=r.get("rdnmadr") or r.get("lnmAdres") or None,
        geom=_point_wkt(lon, lat),
        raw=r,
    )
