"""Camera loaders: Korean national CCTV standard data, the Daejeon 2015 facility inventory,
data.go.kr traffic-CCTV lists, OSM ``man_made=surveillance`` nodes and GeoJSON.

Columns are taken by header name, never by position; the layout is detected from the header.

This module holds :func:`load_cameras` (a file into the database) and re-exports the names callers
use from the modules that hold the code, so that ``geo.load.cameras`` stays the one name to import:

* :mod:`geo.load.cameras_parse`: the dispatcher, :func:`detect_camera_format` (the layout of a
  file) and :func:`parse_cameras` (a file -> ``cameras`` rows and a report);
* :mod:`geo.load.cameras_rows`: the ``cameras`` row every layout produces, the purpose vocabulary,
  content ids and the view-field check;
* :mod:`geo.load.cameras_directions`: a view from direction texts (:func:`kr_direction` for
  촬영방면정보, :func:`osm_direction` for OSM ``camera:direction``);
* :mod:`geo.load.cameras_kr`: the national standard data, its placeholder coordinates
  (:func:`kr_placeholders`) and the summary of a load;
* :mod:`geo.load.cameras_daejeon`: the Daejeon 2015 facility inventory (both headers);
* :mod:`geo.load.cameras_traffic`: the data.go.kr traffic-CCTV list;
* :mod:`geo.load.cameras_osm`: OSM nodes and GeoJSON features.

The private helpers imported under their own name (``_kr_heading``, ``_parse_month``,
``_round_text``, ``_row_id``, ``_validate_ranges``, ``_kr_summary``, ``_kr_suspect_warnings``)
are re-exported for the bulk path, :mod:`geo.load.standard`, which applies the row path's own
rules through this module.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from geo.load.cameras_daejeon import DAEJEON_CAMERA_TYPES, DAEJEON_NON_CAMERA
from geo.load.cameras_directions import OSM_CARDINAL, kr_direction, osm_direction
from geo.load.cameras_directions import _kr_heading as _kr_heading
from geo.load.cameras_kr import (
    FAR_FROM_AGENCY_KM,
    PLACEHOLDER_MIN_ADDRESSES,
    PLACEHOLDER_MIN_ROWS,
    kr_placeholders,
)
from geo.load.cameras_kr import _kr_summary as _kr_summary
from geo.load.cameras_kr import _kr_suspect_warnings as _kr_suspect_warnings
from geo.load.cameras_kr import _parse_month as _parse_month
from geo.load.cameras_kr import _round_text as _round_text
from geo.load.cameras_parse import CAMERA_FORMATS, detect_camera_format, parse_cameras
from geo.load.cameras_rows import KR_PURPOSE, PURPOSES
from geo.load.cameras_rows import _row_id as _row_id
from geo.load.cameras_rows import _validate_ranges as _validate_ranges
from geo.load.common import LoadReport, record_load, sha256_file

__all__ = [
    "CAMERA_FORMATS",
    "DAEJEON_CAMERA_TYPES",
    "DAEJEON_NON_CAMERA",
    "FAR_FROM_AGENCY_KM",
    "KR_PURPOSE",
    "OSM_CARDINAL",
    "PLACEHOLDER_MIN_ADDRESSES",
    "PLACEHOLDER_MIN_ROWS",
    "PURPOSES",
    "detect_camera_format",
    "kr_direction",
    "kr_placeholders",
    "load_cameras",
    "osm_direction",
    "parse_cameras",
]


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
