"""Camera loaders: Korean national CCTV standard data, the Daejeon 2015 facility inventory,
data.go.kr traffic-CCTV lists, OSM ``man_made=surveillance`` nodes and GeoJSON.

Columns are taken by header name, never by position; the layout is detected from the header.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from tqdm import tqdm

from geo.errors import InvalidInput, LoadError
from geo.load.common import (
    LoadReport,
    Reject,
    check_wgs84,
    parse_float,
    parse_int,
    read_table,
    record_load,
    sha256_file,
)

CAMERA_FORMATS = (
    "kr-standard",
    "daejeon-2015",
    "daejeon-2015-clean",
    "kr-traffic-api",
    "osm",
    "geojson",
)

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
# 촬영방면정보 words -> heading (degrees clockwise from north)
KR_DIRECTIONS = {
    "북동": 45.0,
    "남동": 135.0,
    "남서": 225.0,
    "북서": 315.0,
    "동": 90.0,
    "서": 270.0,
    "남": 180.0,
    "북": 0.0,
}
OSM_CARDINAL = {
    "N": 0.0,
    "NNE": 22.5,
    "NE": 45.0,
    "ENE": 67.5,
    "E": 90.0,
    "ESE": 112.5,
    "SE": 135.0,
    "SSE": 157.5,
    "S": 180.0,
    "SSW": 202.5,
    "SW": 225.0,
    "WSW": 247.5,
    "W": 270.0,
    "WNW": 292.5,
    "NW": 315.0,
    "NNW": 337.5,
}
PURPOSES = {"crime_prevention", "traffic", "child_protection", "disaster", "other"}


def detect_camera_format(path: Path, header: list[str] | None = None) -> str:
    """Guess the camera file layout from the extension and header names."""
    suffix = "".join(Path(path).suffixes[-2:]).lower()
    if suffix.endswith(".osm") or suffix.endswith(".pbf"):
        return "osm"
    if suffix.endswith(".geojson") or suffix.endswith(".json"):
        return "geojson"
    if header is None:
        header = read_table(path)[0]
    h = set(header)
    if {"설치목적구분", "카메라대수"} <= h or {"관리기관명", "설치목적구분"} <= h:
        return "kr-standard"
    if {"분류명", "번호", "경도", "위도"} <= h:
        return "daejeon-2015"
    if {"facility_id", "facility_type", "lat", "lon"} <= h:
        return "daejeon-2015-clean"
    if {"manageNo", "mgcNm", "lat", "lon"} <= h:
        return "kr-traffic-api"
    raise LoadError(
        f"cannot tell the camera layout of {Path(path).name} from its header {header[:8]}; "
        f"pass --format one of {', '.join(CAMERA_FORMATS)}",
        field="format",
    )


def _row_id(values: dict[str, str]) -> str:
    return hashlib.sha1(
        json.dumps(values, ensure_ascii=False, sort_keys=True).encode()
    ).hexdigest()[:20]


def _parse_month(v: str) -> dt.date | None:
    m = re.match(r"^\s*(\d{4})[-./년\s]*(\d{1,2})?", v or "")
    if not m:
        return None
    year, month = int(m.group(1)), int(m.group(2) or 1)
    if not (1950 <= year <= 2100 and 1 <= month <= 12):
        return None
    return dt.date(year, month, 1)


_KR_COMPASS = {
    "북동": 45.0,
    "동북": 45.0,
    "남동": 135.0,
    "동남": 135.0,
    "남서": 225.0,
    "서남": 225.0,
    "북서": 315.0,
    "서북": 315.0,
    "동": 90.0,
    "서": 270.0,
    "남": 180.0,
    "북": 0.0,
}
_RE_ALL_ROUND = re.compile(
    r"^(360(도|°|º)?(전방면|전방위|전방향|전방|방향|방면|회전)?|전방위|전방향)$"
)
_RE_DEGREES = re.compile(r"^(?:방위각)?(\d{1,3}(?:\.\d+)?)(?:도|°|º)(?:방향|방면|향)?$")
_RE_COMPASS = re.compile(
    r"^정?("
    + "|".join(sorted(_KR_COMPASS, key=len, reverse=True))
    + r")(?:쪽|측|향)?(?:방향|방면)?$"
)


def kr_direction(text: str | None) -> tuple[float | None, float | None, str]:
    """Heading, field of view and kind of a 촬영방면정보 text, taken only where it is a direction.

    ``"360°"``, ``"360도 전방면"`` -> all-round (fov 360); ``"45°"``, ``"270도 방향"`` -> heading in
    degrees; ``"북동"``, ``"동측"``, ``"남쪽 방향"`` -> compass heading. Anything else (landmarks such
    as ``"서대전농협 뒷길"``, ``"좌우양방향"``, ``"반경 2~3m"``) is not a direction: ``(None, None,
    "text")``, and the text stays in ``raw``. Kinds: ``all-round``, ``degrees``, ``compass``, ``text``,
    ``empty``.
    """
    t = re.sub(r"\s+", "", text or "")
    if not t:
        return None, None, "empty"
    if _RE_ALL_ROUND.match(t):
        return None, 360.0, "all-round"
    if m := _RE_DEGREES.match(t):
        deg = float(m.group(1))
        if deg < 360.0:
            return deg, None, "degrees"
        return None, None, "text"
    if m := _RE_COMPASS.match(t):
        return _KR_COMPASS[m.group(1)], None, "compass"
    return None, None, "text"


def _kr_heading(text: str) -> tuple[float | None, float | None]:
    """(heading_deg, fov_deg) of a 촬영방면정보 text (see :func:`kr_direction`)."""
    heading, fov, _ = kr_direction(text)
    return heading, fov


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


#: A coordinate shared by at least this many rows with at least PLACEHOLDER_MIN_ADDRESSES
#: different addresses is a placeholder, not a place (990 Daejeon rows sit at 36.1, 127.1; the
#: most rows legitimately sharing a pole in that file are 9, with 2 addresses).
PLACEHOLDER_MIN_ROWS = 10
PLACEHOLDER_MIN_ADDRESSES = 5
#: A round coordinate (at most 2 decimals in both) this far from the median of its agency's other
#: cameras is a placeholder too; any other point this far is kept but reported as suspect.
FAR_FROM_AGENCY_KM = 15.0


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


def osm_direction(value: str | None) -> float | None:
    """OSM ``camera:direction``: degrees ('135', '45;90' -> first) or a cardinal ('NE')."""
    if not value:
        return None
    v = value.split(";")[0].strip().upper()
    if v in OSM_CARDINAL:
        return OSM_CARDINAL[v]
    f = parse_float(v)
    return None if f is None else f % 360.0


def _from_osm_tags(
    n: int, osm_id: str, lat: float | None, lon: float | None, tags: dict[str, str]
) -> dict[str, Any] | Reject:
    if (why := check_wgs84(lat, lon)) is not None:
        return Reject(n, why, "lat/lon", f"{lat},{lon}")
    stype = tags.get("surveillance:type", "camera").lower()
    if stype not in ("camera", "alpr", ""):
        return Reject(n, f"not a camera: surveillance:type={stype}", "surveillance:type", osm_id)
    ctype = (tags.get("camera:type") or "").lower() or None
    zone = (tags.get("surveillance:zone") or "").lower()
    purpose = "traffic" if stype == "alpr" or zone == "traffic" else "other"
    angle = parse_float(tags.get("camera:angle"))
    return _camera_row(
        source="osm",
        external_id=f"node/{osm_id}",
        name=tags.get("name") or None,
        purpose=purpose,
        agency=tags.get("operator") or None,
        address=tags.get("addr:street") or None,
        geom=_point_wkt(lon, lat),
        heading_deg=osm_direction(tags.get("camera:direction")),
        tilt_deg=angle,
        camera_type=ctype,
        ptz=ctype in ("dome", "panning") or tags.get("revolving") == "yes",
        raw=tags,
    )


def _osm_nodes(path: Path) -> list[tuple[int, str, float | None, float | None, dict[str, str]]]:
    import osmium

    out = []
    fp = osmium.FileProcessor(str(path), osmium.osm.NODE)
    for i, obj in enumerate(fp, start=1):
        tags = {t.k: t.v for t in obj.tags}
        if tags.get("man_made") != "surveillance":
            continue
        loc = obj.location  # type: ignore[union-attr]
        lat = loc.lat if loc.valid() else None
        lon = loc.lon if loc.valid() else None
        out.append((i, str(obj.id), lat, lon, tags))
    return out


def _geojson_features(path: Path) -> list[tuple[int, dict[str, Any]]]:
    from geo.load.common import decode_bytes

    textdata, _ = decode_bytes(path.read_bytes(), path=str(path))
    try:
        doc = json.loads(textdata)
    except json.JSONDecodeError as e:
        raise LoadError(f"{path.name} is not valid JSON: {e}", field="file") from None
    feats = doc.get("features") if doc.get("type") == "FeatureCollection" else [doc]
    return list(enumerate(feats or [], start=1))


def _from_geojson(n: int, f: dict[str, Any], stem: str) -> dict[str, Any] | Reject:
    geom = f.get("geometry") or {}
    props = dict(f.get("properties") or {})
    if geom.get("type") != "Point":
        return Reject(n, f"geometry is {geom.get('type')!r}, not a Point", "geometry", "")
    try:
        lon, lat = (float(c) for c in geom["coordinates"][:2])
    except (TypeError, ValueError, KeyError):
        return Reject(n, "unreadable coordinates", "geometry", str(geom.get("coordinates")))
    tags = props.get("all_tags")
    if isinstance(tags, str):
        try:
            tags = json.loads(tags)
        except json.JSONDecodeError:
            tags = None
    if isinstance(tags, dict) and tags.get("man_made") == "surveillance" and props.get("osm_id"):
        return _from_osm_tags(
            n, str(props["osm_id"]), lat, lon, {k: str(v) for k, v in tags.items()}
        )
    if (why := check_wgs84(lat, lon)) is not None:
        return Reject(n, why, "geometry", f"{lat},{lon}")
    ext = (
        props.get("external_id")
        or props.get("id")
        or f.get("id")
        or _row_id({"geometry": json.dumps(geom), **{k: str(v) for k, v in props.items()}})
    )
    purpose = props.get("purpose") or "other"
    if purpose not in PURPOSES:
        purpose = KR_PURPOSE.get(str(purpose), "other")
    heading = (
        parse_float(str(props.get("heading_deg")))
        if props.get("heading_deg") is not None
        else osm_direction(props.get("camera:direction"))
    )
    return _camera_row(
        source=str(props.get("source") or f"geojson:{stem}"),
        external_id=str(ext),
        name=props.get("name"),
        purpose=purpose,
        agency=props.get("agency") or props.get("operator"),
        address=props.get("address"),
        geom=_point_wkt(lon, lat),
        heading_deg=heading,
        fov_deg=parse_float(str(props["fov_deg"])) if props.get("fov_deg") is not None else None,
        range_m=parse_float(str(props["range_m"])) if props.get("range_m") is not None else None,
        camera_type=props.get("camera_type"),
        ptz=bool(props.get("ptz", False)),
        stream_url=props.get("stream_url"),
        raw=props,
    )


def _validate_ranges(n: int, row: dict[str, Any]) -> Reject | None:
    h, f, r = row.get("heading_deg"), row.get("fov_deg"), row.get("range_m")
    if h is not None and not 0 <= h < 360:
        return Reject(n, f"heading out of range 0..360: {h}", "heading_deg", str(h))
    if f is not None and not 0 < f <= 360:
        return Reject(n, f"field of view out of range 0..360: {f}", "fov_deg", str(f))
    if r is not None and r <= 0:
        return Reject(n, f"range must be positive: {r}", "range_m", str(r))
    return None


def parse_cameras(
    path: Path, *, fmt: str | None = None, progress: bool = False
) -> tuple[list[dict[str, Any]], LoadReport]:
    """Read a camera file into rows for the ``cameras`` table and a report of rejected rows."""
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"file not found: {path}", field="file")
    if fmt is not None and fmt not in CAMERA_FORMATS:
        raise InvalidInput(
            f"unknown camera format {fmt!r}; one of {', '.join(CAMERA_FORMATS)}", field="format"
        )
    items: list[Any]
    enc = None
    conv: Callable[..., dict[str, Any] | Reject]
    if fmt in (
        None,
        "kr-standard",
        "daejeon-2015",
        "daejeon-2015-clean",
        "kr-traffic-api",
    ) and path.suffix.lower() in (".csv", ".txt", ".xlsx", ".xlsm", ".tsv"):
        header, rows, enc = read_table(path)
        fmt = fmt or detect_camera_format(path, header)
        conv = {
            "kr-standard": _from_kr_standard,
            "daejeon-2015": _from_daejeon_2015,
            "daejeon-2015-clean": _from_daejeon_clean,
            "kr-traffic-api": _from_kr_traffic,
        }[fmt]
        items = [(n, r) for n, r in rows]
    else:
        fmt = fmt or detect_camera_format(path)
        if fmt == "osm":
            items = _osm_nodes(path)
            conv = _from_osm_tags
        elif fmt == "geojson":
            items = _geojson_features(path)
            conv = lambda n, f: _from_geojson(n, f, path.stem)  # noqa: E731
        else:
            raise LoadError(f"{fmt} files must be CSV or XLSX, got {path.name}", field="format")
    report = LoadReport(kind="cameras", fmt=fmt, path=str(path.resolve()), encoding=enc)
    placeholders: dict[int, str] = {}
    if fmt == "kr-standard":
        placeholders, suspects = kr_placeholders(items)  # (line, row) pairs here
        for agency, ns in sorted(suspects.items()):
            shown = ", ".join(str(n) for n in ns[:20]) + (
                f" and {len(ns) - 20} more" if len(ns) > 20 else ""
            )
            report.warnings.append(
                f"{len(ns)} rows of {agency or 'no agency'} lie more than {FAR_FROM_AGENCY_KM:g} km "
                f"from the median of that agency's cameras: suspect location, loaded (lines {shown})"
            )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    seen_at: dict[tuple[str, str], int] = {}
    for item in tqdm(items, desc=f"cameras {path.name}", unit="row", disable=not progress):
        n = item[0]
        report.rows_read += 1
        if n in placeholders:
            r = item[1]
            report.rejects.append(
                Reject(
                    n,
                    placeholders[n],
                    "WGS84위도/WGS84경도",
                    f"{r.get('WGS84위도') or r.get('위도')},{r.get('WGS84경도') or r.get('경도')} "
                    f"{r.get('소재지도로명주소') or r.get('소재지지번주소') or ''}".strip(),
                )
            )
            continue
        res = conv(*item)
        if isinstance(res, Reject):
            report.rejects.append(res)
            continue
        if (bad := _validate_ranges(n, res)) is not None:
            report.rejects.append(bad)
            continue
        key = (res["source"], res["external_id"])
        if key in out:
            if out[key] == res:
                report.warnings.append(f"row {n} repeats row {seen_at[key]} exactly; loaded once")
                continue
            report.rejects.append(
                Reject(
                    n,
                    f"duplicate id {res['external_id']} (first at row "
                    f"{seen_at[key]}) with different values",
                    "id",
                    res["external_id"],
                )
            )
            continue
        out[key] = res
        seen_at[key] = n
    if fmt == "kr-standard":
        _kr_summary(report, items, list(out.values()), placeholders)
    return list(out.values()), report


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


def load_cameras(
    session: Session,
    *,
    path: Path | str,
    fmt: str | None = None,
    progress: bool = False,
    refresh_views: bool = True,
) -> LoadReport:
    """Load a camera file in the caller's transaction; idempotent by (source, external_id).

    Each row is stored as its source's record (``camera_sources``); records of the same physical
    camera in other files merge into one ``cameras`` row (:mod:`geo.load.unify`, likely matches
    only) and a merge report is written. ``inserted``/``updated``/``unchanged`` count the file's
    records. Refreshes the stored fields of view of the cameras written (``geo.views``).
    """
    from geo.load.unify import load_records

    path = Path(path)
    rows, report = parse_cameras(path, fmt=fmt, progress=progress)
    report.sha256 = sha256_file(path)
    written = load_records(session, rows=rows, report=report)
    if refresh_views and written:
        from geo.views import refresh_camera_views

        refresh_camera_views(session, camera_ids=written)
    record_load(session, report)
    return report
