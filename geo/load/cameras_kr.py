"""The Korean national CCTV standard data (전국CCTV표준데이터, layout ``kr-standard``).

Rows of any of the published layouts (current, older, newer; taken by header name) become
``cameras`` rows with ``camera_count`` = 카메라대수; :func:`kr_placeholders` decides on the whole
file which coordinates are placeholders (rejected) and which are suspect (loaded, reported), and
:func:`_kr_summary` explains the counts of a load (rows vs cameras, the kinds of 촬영방면정보).
The bulk path (:mod:`geo.load.standard`) applies the same rules to columns.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from geo.load.cameras_directions import _kr_heading, kr_direction
from geo.load.cameras_rows import KR_PURPOSE, _camera_row, _point_wkt, _row_id
from geo.load.common import LoadReport, Reject, check_wgs84, parse_float, parse_int

#: A coordinate shared by at least this many rows with at least PLACEHOLDER_MIN_ADDRESSES
#: different addresses is a placeholder, not a place (990 Daejeon rows sit at 36.1, 127.1; the
#: most rows legitimately sharing a pole in that file are 9, with 2 addresses).
PLACEHOLDER_MIN_ROWS = 10
PLACEHOLDER_MIN_ADDRESSES = 5
#: A round coordinate (at most 2 decimals in both) this far from the median of its agency's other
#: cameras is a placeholder too; any other point this far is kept but reported as suspect.
FAR_FROM_AGENCY_KM = 15.0


def _parse_month(v: str) -> dt.date | None:
    m = re.match(r"^\s*(\d{4})[-./년\s]*(\d{1,2})?", v or "")
    if not m:
        return None
    year, month = int(m.group(1)), int(m.group(2) or 1)
    if not (1950 <= year <= 2100 and 1 <= month <= 12):
        return None
    return dt.date(year, month, 1)


def _from_kr_standard(n: int, r: dict[str, str]) -> dict[str, Any] | Reject:
    lat = parse_float(r.get("WGS84위도") or r.get("위도"))
    lon = parse_float(r.get("WGS84경도") or r.get("경도"))
    if (why := check_wgs84(lat, lon)) is not None:
        return Reject(
            n,
            why,
            "위도/경도",
            f"{r.get('위도') or r.get('WGS84위도')},{r.get('경도') or r.get('WGS84경도')}",
        )
    count = parse_int(r.get("카메라대수")) if r.get("카메라대수") else 1
    if count is None or count < 0:
        return Reject(n, "camera count is not a whole number", "카메라대수", r.get("카메라대수"))
    purpose_kr = (r.get("설치목적구분") or "").strip()
    purpose = KR_PURPOSE.get(purpose_kr, "other")
    heading, fov = _kr_heading(r.get("촬영방면정보", ""))
    installed = r.get("설치연월") or r.get("설치년월") or ""
    installed_on = _parse_month(installed) if installed else None
    if installed and installed_on is None:
        return Reject(n, "unparseable installation date", "설치연월", installed)
    retention = parse_int(r.get("보관일수")) if r.get("보관일수") else None
    pixels = parse_float(r.get("카메라화소수")) if r.get("카메라화소수") else None
    # 카메라화소수 is given in 만 화소 (10^4 pixels), e.g. 200 = 2 MP
    resolution = (
        int(pixels * 10_000) if pixels and pixels < 10_000 else (int(pixels) if pixels else None)
    )
    agency = r.get("관리기관명") or None
    # 관리번호 (current layout) is the agency's own id: stable across releases of the file
    num = r.get("관리번호") or r.get("번호")
    ext = f"{agency}:{num}" if num else _row_id(r)
    return _camera_row(
        source="kr-standard",
        external_id=ext,
        name=r.get("소재지도로명주소") or r.get("소재지지번주소") or None,
        purpose=purpose,
        agency=agency,
        address=r.get("소재지도로명주소") or r.get("소재지지번주소") or None,
        geom=_point_wkt(lon, lat),
        heading_deg=heading,
        fov_deg=fov,
        camera_count=max(1, count),
        resolution_px=resolution,
        retention_days=retention,
        installed_on=installed_on,
        raw=r,
    )


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    import math

    dy = (lat1 - lat2) * 111.2
    dx = (lon1 - lon2) * 111.2 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


def _round_text(v: str) -> bool:
    return bool(re.fullmatch(r"-?\d+(\.\d{0,2})?", (v or "").strip()))


def kr_placeholders(
    rows: list[Any],
) -> tuple[dict[int, str], dict[str, list[int]]]:
    """Placeholder coordinates of a standard-data file, decided on the whole file.

    Returns ({line: reason} of placeholder rows, {agency: [lines]} of suspect rows: points far
    (:data:`FAR_FROM_AGENCY_KM`) from the median of their agency's cameras, kept but reported).
    A placeholder is a point many rows with different addresses share, or a round value far from
    the agency's other cameras.
    """
    import statistics
    from collections import defaultdict

    pts: dict[int, tuple[float, float, str, str]] = {}
    for n, r in rows:
        lat = parse_float(r.get("WGS84위도") or r.get("위도"))
        lon = parse_float(r.get("WGS84경도") or r.get("경도"))
        if check_wgs84(lat, lon) is None:
            assert lat is not None and lon is not None
            addr = (r.get("소재지도로명주소") or r.get("소재지지번주소") or "").strip()
            pts[n] = (lat, lon, addr, r.get("관리기관명") or "")
    groups: dict[tuple[float, float], list[int]] = defaultdict(list)
    for n, (lat, lon, _, _) in pts.items():
        groups[(round(lat, 6), round(lon, 6))].append(n)
    out: dict[int, str] = {}
    for (lat, lon), ns in groups.items():
        addrs = {pts[n][2] for n in ns if pts[n][2]}
        if len(ns) >= PLACEHOLDER_MIN_ROWS and len(addrs) >= PLACEHOLDER_MIN_ADDRESSES:
            why = (
                f"placeholder coordinate: {len(ns)} rows with {len(addrs)} different addresses "
                f"share {lat:g}, {lon:g}"
            )
            out.update({n: why for n in ns})
    by_agency: dict[str, list[int]] = defaultdict(list)
    for n, p in pts.items():
        if n not in out:
            by_agency[p[3]].append(n)
    raw = dict(rows)
    suspects: dict[str, list[int]] = {}
    for agency, ns in by_agency.items():
        if len(ns) < 10:
            continue
        mlat = statistics.median(pts[n][0] for n in ns)
        mlon = statistics.median(pts[n][1] for n in ns)
        for n in ns:
            lat, lon = pts[n][0], pts[n][1]
            d = _km(lat, lon, mlat, mlon)
            if d <= FAR_FROM_AGENCY_KM:
                continue
            r = raw[n]
            if _round_text(r.get("WGS84위도") or r.get("위도") or "") and _round_text(
                r.get("WGS84경도") or r.get("경도") or ""
            ):
                out[n] = f"placeholder coordinate: round value {d:.0f} km from {agency}'s cameras"
            else:
                suspects.setdefault(agency, []).append(n)
    return out, suspects


def _kr_suspect_warnings(report: LoadReport, suspects: dict[str, list[int]]) -> None:
    """One warning of ``report`` per agency with suspect rows (:func:`kr_placeholders`): loaded,
    but far from the agency's other cameras; the first 20 lines are named."""
    for agency, ns in sorted(suspects.items()):
        shown = ", ".join(str(n) for n in ns[:20]) + (
            f" and {len(ns) - 20} more" if len(ns) > 20 else ""
        )
        report.warnings.append(
            f"{len(ns)} rows of {agency or 'no agency'} lie more than {FAR_FROM_AGENCY_KM:g} km "
            f"from the median of that agency's cameras: suspect location, loaded (lines {shown})"
        )


def _placeholder_reject(n: int, r: dict[str, str], why: str) -> Reject:
    """The reject of a row at a placeholder coordinate: its coordinates and address as the value."""
    return Reject(
        n,
        why,
        "WGS84위도/WGS84경도",
        f"{r.get('WGS84위도') or r.get('위도')},{r.get('WGS84경도') or r.get('경도')} "
        f"{r.get('소재지도로명주소') or r.get('소재지지번주소') or ''}".strip(),
    )


def _kr_summary(
    report: LoadReport,
    items: list[Any],
    rows: list[dict[str, Any]],
    placeholders: dict[int, str],
) -> None:
    """Explain the counts of a standard-data load: rows vs cameras (카메라대수), directions."""
    from collections import Counter

    def cams(r: dict[str, str]) -> int:
        c = parse_int(r.get("카메라대수")) if r.get("카메라대수") else 1
        return max(1, c or 1)

    total = sum(cams(r) for _, r in items)
    ph_rows = [r for n, r in items if n in placeholders]
    loaded = sum(int(r["camera_count"]) for r in rows)
    report.warnings.append(
        f"{len(items)} rows = {total} cameras (카메라대수); one row per site with camera_count = "
        f"카메라대수; loaded {len(rows)} rows = {loaded} cameras; {len(ph_rows)} rows = "
        f"{sum(cams(r) for r in ph_rows)} cameras at placeholder coordinates not loaded"
    )
    kinds = Counter(kr_direction(r.get("촬영방면정보"))[2] for _, r in items)
    report.warnings.append(
        "촬영방면정보: "
        + ", ".join(
            f"{k} {kinds.get(k, 0)}" for k in ("all-round", "degrees", "compass", "text", "empty")
        )
        + " (only all-round, degrees and compass words are used as a view; text stays in raw)"
    )
