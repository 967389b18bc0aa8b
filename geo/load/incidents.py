"""Incident loaders: the Yuseong-gu traffic-accident file (EPSG:5179 with swapped labels) and
generic CSV/XLSX/GeoJSON with lat/lon (or x/y plus a CRS)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
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
    upsert,
)
from geo.models.core import INCIDENT_KINDS, INCIDENT_STATUSES
from geo.times import KST

INCIDENT_FORMATS = ("kr-accidents", "csv", "geojson")
#: A point this far from the file's median location is loaded but flagged (geocoding defaults).
OUTLIER_KM = 30.0

LAT_NAMES = ("lat", "latitude", "위도", "WGS84위도", "y_wgs84")
LON_NAMES = ("lon", "lng", "longitude", "경도", "WGS84경도", "x_wgs84")
TIME_NAMES = ("occurred_at", "time", "datetime", "timestamp", "date", "발생일시", "발생일자")
ID_NAMES = ("external_id", "id", "번호", "incident_id")
KIND_ALIASES = {
    "vulnerable-person sos": "sos",
    "sos": "sos",
    "police": "police",
    "fire": "fire",
    "disaster": "disaster",
    "traffic": "traffic",
    "other": "other",
    "교통사고": "traffic",
    "화재": "fire",
    "재난": "disaster",
    "범죄": "police",
}


def detect_incident_format(path: Path, header: list[str] | None = None) -> str:
    if Path(path).suffix.lower() in (".geojson", ".json"):
        return "geojson"
    header = header if header is not None else read_table(path)[0]
    h = set(header)
    if {"사고번호", "발생일시", "위도", "경도"} <= h and not ({"lat", "lon"} <= h):
        return "kr-accidents"
    return "csv"


def parse_time(value: str, *, tz: dt.tzinfo) -> dt.datetime | None:
    """ISO 8601 or 'YYYY-MM-DD HH:MM[:SS]' (also '.' or '/' separated); naive times are in ``tz``."""
    v = (value or "").strip()
    if not v:
        return None
    v = v.replace("/", "-").replace(".", "-") if v[:4].isdigit() and v[4:5] in "./" else v
    try:
        t = dt.datetime.fromisoformat(v)
    except ValueError:
        for f in ("%Y-%m-%d %H", "%Y%m%d%H%M", "%Y%m%d"):
            try:
                t = dt.datetime.strptime(v, f)
                break
            except ValueError:
                continue
        else:
            return None
    return t if t.tzinfo else t.replace(tzinfo=tz)


def _first(r: dict[str, str], names: tuple[str, ...]) -> tuple[str | None, str]:
    for n in names:
        if n in r and r[n] != "":
            return n, r[n]
    return None, ""


def _row(**kw: Any) -> dict[str, Any]:
    base = {
        "kind": "other",
        "case_number": None,
        "priority": 3,
        "occurred_at": None,
        "geom": None,
        "status": "closed",
        "description": None,
        "source": None,
        "external_id": None,
        "raw": None,
    }
    base.update(kw)
    return base


def _kr_accident(n: int, r: dict[str, str], to_wgs84: Transformer) -> dict[str, Any] | Reject:
    # 위도/경도 hold EPSG:5179 easting/northing with swapped labels (see data/.../SOURCE.md)
    x, y = parse_float(r.get("위도")), parse_float(r.get("경도"))
    if x is None or y is None:
        return Reject(n, "missing coordinates", "위도/경도", f"{r.get('위도')},{r.get('경도')}")
    if x == 0 or y == 0:
        return Reject(n, "zero coordinates (no location recorded)", "위도/경도", f"{x},{y}")
    if not (600_000 <= x <= 1_400_000 and 1_400_000 <= y <= 2_300_000):
        return Reject(
            n,
            f"coordinates outside the EPSG:5179 extent of Korea: x {x}, y {y}",
            "위도/경도",
            f"{x},{y}",
        )
    lon, lat = to_wgs84.transform(x, y)
    when = parse_time(r.get("발생일시", ""), tz=KST)
    if when is None:
        return Reject(n, "unparseable date", "발생일시", r.get("발생일시", ""))
    if not r.get("번호"):
        return Reject(n, "missing row id", "번호", "")
    casualties = parse_int(r.get("사상자수")) or 0
    priority = 1 if casualties >= 5 else (2 if casualties >= 2 else 3)
    desc = " / ".join(v for v in (r.get("사고유형"), r.get("도로형태")) if v)
    return _row(
        kind="traffic",
        priority=priority,
        occurred_at=when,
        geom=f"POINT({lon:.8f} {lat:.8f})",
        status="closed",
        description=f"{desc}; 사상자 {casualties}" if desc else None,
        source="kr-accidents",
        external_id=r["번호"],
        raw=r,
    )


def _generic(
    n: int, r: dict[str, str], *, src: str, kind: str, tz: dt.tzinfo, to_wgs84: Transformer | None
) -> dict[str, Any] | Reject:
    if to_wgs84 is not None:
        xs, ys = r.get("x", ""), r.get("y", "")
        x, y = parse_float(xs), parse_float(ys)
        if x is None or y is None:
            return Reject(n, "missing coordinates", "x/y", f"{xs},{ys}")
        if x == 0 or y == 0:
            return Reject(n, "zero coordinates (no location recorded)", "x/y", f"{xs},{ys}")
        lon, lat = to_wgs84.transform(x, y)
        if not (np.isfinite(lon) and np.isfinite(lat)):
            return Reject(n, "coordinates cannot be converted to WGS84", "x/y", f"{xs},{ys}")
    else:
        lat_f, lat_s = _first(r, LAT_NAMES)
        lon_f, lon_s = _first(r, LON_NAMES)
        lat, lon = parse_float(lat_s), parse_float(lon_s)
        if (why := check_wgs84(lat, lon)) is not None:
            return Reject(n, why, "lat/lon", f"{lat_s},{lon_s}")
    tf, ts = _first(r, TIME_NAMES)
    if tf is None:
        return Reject(n, "missing time", "occurred_at", "")
    when = parse_time(ts, tz=tz)
    if when is None:
        return Reject(n, "unparseable date", tf, ts)
    k = (r.get("kind") or kind).strip().lower()
    k = KIND_ALIASES.get(k, k)
    if k not in INCIDENT_KINDS:
        return Reject(n, f"unknown kind {k!r}", "kind", k)
    status = (r.get("status") or "closed").strip().lower()
    if status not in INCIDENT_STATUSES:
        return Reject(n, f"unknown status {status!r}", "status", status)
    prio = parse_int(r.get("priority")) if r.get("priority") else 3
    if prio is None or not 1 <= prio <= 5:
        return Reject(n, "priority must be a whole number 1..5", "priority", r.get("priority"))
    _, ext = _first(r, ID_NAMES)
    if not ext:
        ext = f"row-{n}:{when.isoformat()}:{lat:.6f}:{lon:.6f}"
    return _row(
        kind=k,
        case_number=r.get("case_number") or None,
        priority=prio,
        occurred_at=when,
        geom=f"POINT({lon:.8f} {lat:.8f})",
        status=status,
        description=r.get("description") or None,
        source=src,
        external_id=ext,
        raw=r,
    )


def parse_incidents(
    path: Path,
    *,
    fmt: str | None = None,
    crs: str | None = None,
    kind: str = "other",
    tz: str = "Asia/Seoul",
    source: str | None = None,
    progress: bool = False,
) -> tuple[list[dict[str, Any]], LoadReport]:
    """Read an incident file into ``incidents`` rows plus a report of rejected rows."""
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"file not found: {path}", field="file")
    if fmt is not None and fmt not in INCIDENT_FORMATS:
        raise InvalidInput(
            f"unknown incident format {fmt!r}; one of {', '.join(INCIDENT_FORMATS)}", field="format"
        )
    try:
        zone = ZoneInfo(tz)
    except Exception:
        raise InvalidInput(f"unknown time zone {tz!r}", field="tz") from None
    kind_norm = KIND_ALIASES.get(kind.lower(), kind.lower())
    if kind_norm not in INCIDENT_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(INCIDENT_KINDS)}", field="kind")
    enc = None
    if (
        fmt
        or detect_incident_format(
            path, [] if path.suffix.lower() in (".geojson", ".json") else None
        )
    ) == "geojson":
        fmt = "geojson"
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
        rows = []
        for i, f in enumerate(doc.get("features", []), start=1):
            g = f.get("geometry") or {}
            props = {k: "" if v is None else str(v) for k, v in (f.get("properties") or {}).items()}
            if g.get("type") == "Point" and len(g.get("coordinates", [])) >= 2:
                props["lon"], props["lat"] = (str(c) for c in g["coordinates"][:2])
            rows.append((i, props))
        header = list(rows[0][1].keys()) if rows else []
    else:
        header, rows, enc = read_table(path)
        fmt = fmt or detect_incident_format(path, header)
    report = LoadReport(kind="incidents", fmt=fmt, path=str(path.resolve()), encoding=enc)
    if fmt == "kr-accidents":
        tr = Transformer.from_crs(5179, 4326, always_xy=True)
        conv = lambda n, r: _kr_accident(n, r, tr)  # noqa: E731
    else:
        tr2 = None
        if crs:
            try:
                tr2 = Transformer.from_crs(CRS.from_user_input(crs), 4326, always_xy=True)
            except CRSError:
                raise InvalidInput(f"unknown CRS {crs!r}", field="crs") from None
            if not {"x", "y"} <= set(header):
                raise LoadError("--crs needs columns named x and y", field="crs")
        elif not (set(header) & set(LAT_NAMES) and set(header) & set(LON_NAMES)):
            raise LoadError(
                f"no latitude/longitude columns in {path.name} (looked for "
                f"{'/'.join(LAT_NAMES[:3])} and {'/'.join(LON_NAMES[:3])}); for "
                "projected x/y columns pass --crs",
                field="file",
            )
        src = source or f"file:{path.stem}"
        conv = lambda n, r: _generic(n, r, src=src, kind=kind_norm, tz=zone, to_wgs84=tr2)  # noqa: E731
    out: dict[str, dict[str, Any]] = {}
    first_row: dict[str, int] = {}
    for n, r in tqdm(rows, desc=f"incidents {path.name}", unit="row", disable=not progress):
        report.rows_read += 1
        res = conv(n, r)
        if isinstance(res, Reject):
            report.rejects.append(res)
            continue
        ext = res["external_id"]
        if ext in out:
            report.rejects.append(
                Reject(n, f"duplicate id {ext} (first at row {first_row[ext]})", "id", ext)
            )
            continue
        out[ext] = res
        first_row[ext] = n
    rows_out = list(out.values())
    _flag_outliers(rows_out, report, first_row)
    return rows_out, report


def _flag_outliers(
    rows: list[dict[str, Any]], report: LoadReport, first_row: dict[str, int]
) -> None:
    """Flag (not drop) points far from the file's median: likely geocoding defaults."""
    if len(rows) < 10:
        return
    xy = np.array([[float(v) for v in r["geom"][6:-1].split()] for r in rows])
    med = np.median(xy, axis=0)
    from pyproj import Geod

    _, _, d = Geod(ellps="WGS84").inv(
        np.full(len(xy), med[0]), np.full(len(xy), med[1]), xy[:, 0], xy[:, 1]
    )
    for r, dist in zip(rows, d, strict=True):
        if dist > OUTLIER_KM * 1000:
            r["raw"] = {
                **(r["raw"] or {}),
                "suspect_location": f"{dist / 1000:.0f} km from the file's median location",
            }
            report.warnings.append(
                f"row {first_row[r['external_id']]} (id {r['external_id']}) lies {dist / 1000:.0f} km "
                "from the other rows; loaded and flagged raw.suspect_location"
            )


def load_incidents(
    session: Session,
    *,
    path: Path | str,
    fmt: str | None = None,
    crs: str | None = None,
    kind: str = "other",
    tz: str = "Asia/Seoul",
    source: str | None = None,
    progress: bool = False,
) -> LoadReport:
    """Load an incident file in the caller's transaction; idempotent by (source, external_id)."""
    path = Path(path)
    rows, report = parse_incidents(
        path, fmt=fmt, crs=crs, kind=kind, tz=tz, source=source, progress=progress
    )
    report.sha256 = sha256_file(path)
    ins, upd = upsert(session, table="incidents", rows=rows, key=("source", "external_id"))
    report.inserted, report.updated = ins, upd
    report.unchanged = len(rows) - ins - upd
    record_load(session, report)
    return report
