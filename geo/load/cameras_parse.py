"""The camera file dispatcher: which layout a file has, and a file -> ``cameras`` rows + report.

:func:`detect_camera_format` tells the layout from the extension and the header names (never
positions); :func:`parse_cameras` reads the file with that layout's row converter, rejects rows
whose view fields are out of range and ids repeated with other values, and reports it all. The
converters live in one module a layout (:mod:`geo.load.cameras_kr`, :mod:`geo.load.cameras_daejeon`,
:mod:`geo.load.cameras_traffic`, :mod:`geo.load.cameras_osm`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from geo.errors import InvalidInput, LoadError
from geo.load.cameras_daejeon import _from_daejeon_2015, _from_daejeon_clean
from geo.load.cameras_kr import (
    _from_kr_standard,
    _kr_summary,
    _kr_suspect_warnings,
    _placeholder_reject,
    kr_placeholders,
)
from geo.load.cameras_osm import _from_geojson, _from_osm_tags, _geojson_features, _osm_nodes
from geo.load.cameras_rows import _validate_ranges
from geo.load.cameras_traffic import _from_kr_traffic
from geo.load.common import LoadReport, Reject, read_table

CAMERA_FORMATS = (
    "kr-standard",
    "daejeon-2015",
    "daejeon-2015-clean",
    "kr-traffic-api",
    "osm",
    "geojson",
)
#: The header names that make a table one layout (any one set), in the order they are tried.
_LAYOUT_HEADERS: dict[str, tuple[set[str], ...]] = {
    "kr-standard": ({"설치목적구분", "카메라대수"}, {"관리기관명", "설치목적구분"}),
    "daejeon-2015": ({"분류명", "번호", "경도", "위도"},),
    "daejeon-2015-clean": ({"facility_id", "facility_type", "lat", "lon"},),
    "kr-traffic-api": ({"manageNo", "mgcNm", "lat", "lon"},),
}


def _has_layout(header: list[str], fmt: str) -> bool:
    return any(need <= set(header) for need in _LAYOUT_HEADERS[fmt])


def detect_camera_format(path: Path, header: list[str] | None = None) -> str:
    """Guess the camera file layout from the extension and header names."""
    suffix = "".join(Path(path).suffixes[-2:]).lower()
    if suffix.endswith(".osm") or suffix.endswith(".pbf"):
        return "osm"
    if suffix.endswith(".geojson") or suffix.endswith(".json"):
        return "geojson"
    if header is None:
        header = read_table(path)[0]
    for fmt in _LAYOUT_HEADERS:
        if _has_layout(header, fmt):
            return fmt
    raise LoadError(
        f"cannot tell the camera layout of {Path(path).name} from its header {header[:8]}; "
        f"pass --format one of {', '.join(CAMERA_FORMATS)}",
        field="format",
    )


def _camera_items(
    path: Path, fmt: str | None
) -> tuple[str, list[Any], Callable[..., dict[str, Any] | Reject], str | None]:
    """(layout, items, converter, encoding) of a camera file: tables (CSV, XLSX) are read by
    header name, OSM and GeoJSON files as nodes / features; ``fmt`` None detects the layout."""
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
        if not _has_layout(header, fmt):  # a forced --format that is not the file's
            need = " or ".join(", ".join(sorted(s)) for s in _LAYOUT_HEADERS[fmt])
            raise LoadError(
                f"{path.name} is not a {fmt} file: its header lacks {need}", field="format"
            )
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
            try:
                items = _osm_nodes(path)
            except RuntimeError as e:  # osmium: not OSM XML/PBF
                raise LoadError(f"cannot read {path.name} as OSM data: {e}", field="file") from e
            conv = _from_osm_tags
        elif fmt == "geojson":
            items = _geojson_features(path)
            conv = lambda n, f: _from_geojson(n, f, path.stem)  # noqa: E731
        else:
            raise LoadError(f"{fmt} files must be CSV or XLSX, got {path.name}", field="format")
    return fmt, items, conv, enc


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
    fmt, items, conv, enc = _camera_items(path, fmt)
    report = LoadReport(kind="cameras", fmt=fmt, path=str(path.resolve()), encoding=enc)
    placeholders: dict[int, str] = {}
    if fmt == "kr-standard":
        placeholders, suspects = kr_placeholders(items)  # (line, row) pairs here
        _kr_suspect_warnings(report, suspects)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    seen_at: dict[tuple[str, str], int] = {}
    for item in tqdm(items, desc=f"cameras {path.name}", unit="row", disable=not progress):
        n = item[0]
        report.rows_read += 1
        if n in placeholders:
            report.rejects.append(_placeholder_reject(n, item[1], placeholders[n]))
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
