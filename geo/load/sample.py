"""Load the bundled sample data (``data/``) once: each file in its own transaction, skipped when
the same file (by SHA-256) was loaded before."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from geo.load.cameras import load_cameras
from geo.load.common import LoadReport, sha256_file
from geo.load.incidents import load_incidents
from geo.settings import get_settings


def sample_files(data_dir: Path | None = None) -> list[tuple[str, Path, dict[str, Any]]]:
    """(kind, path, options) of every bundled file, in load order (roads and buildings first,
    so camera views are clipped by buildings)."""
    d = data_dir or get_settings().data_dir
    files: list[tuple[str, Path, dict[str, Any]]] = []
    if importlib.util.find_spec("geo.load.osm") is not None:
        files += [
            ("roads", d / "daejeon-osm" / "daejeon_arterial_osm.geojson", {}),
            ("buildings", d / "daejeon-osm" / "yuseong_cnu_osm_buildings.geojson", {}),
            ("roads", d / "helsinki-osm" / "helsinki_center_highways.osm", {}),
            ("buildings", d / "helsinki-osm" / "helsinki_center.osm", {}),
        ]
    files += [
        ("cameras", d / "daejeon-cctv" / "national_standard_cctv_daejeon_2026_cp949.csv", {}),
        ("cameras", d / "daejeon-cctv" / "cctv_daejeon_2015_cp949.csv", {}),
        ("cameras", d / "daejeon-cctv" / "traffic_cctv_daejeon.csv", {}),
        ("cameras", d / "helsinki-osm" / "helsinki_center.osm.pbf", {}),
        ("incidents", d / "daejeon-incidents" / "traffic_accidents_yuseong_2017_2021.csv", {}),
    ]
    return files


def _loader(kind: str) -> Callable[..., LoadReport]:
    if kind == "cameras":
        return load_cameras
    if kind == "incidents":
        return load_incidents
    from geo.load.buildings import load_buildings_any
    from geo.load.lines import load_roads_any

    return {"roads": load_roads_any, "buildings": load_buildings_any}[kind]


def load_sample(
    *,
    engine: Engine | None = None,
    data_dir: Path | None = None,
    quiet: bool = False,
    force: bool = False,
) -> dict[str, Any]:
    """Load every bundled file not loaded yet; returns {file name: report dict or 'already loaded'}."""
    from geo.db import get_engine

    eng = engine or get_engine()
    results: dict[str, Any] = {}
    for kind, path, opts in sample_files(data_dir):
        sha = sha256_file(path)
        with Session(eng) as s, s.begin():
            # serialise concurrent sample loads (e.g. two test runs on one external server)
            s.execute(text("select pg_advisory_xact_lock(7244001)"))
            done = s.execute(
                text("select 1 from data_loads where kind = :k and sha256 = :h limit 1"),
                {"k": kind, "h": sha},
            ).first()
            if done and not force:
                results[path.name] = "already loaded"
                if not quiet:
                    print(f"{kind} from {path.name}: already loaded")
                continue
            report = _loader(kind)(s, path=path, progress=not quiet, **opts)
            if kind == "buildings" and (report.inserted or report.updated):
                from geo.views import refresh_camera_views

                refresh_camera_views(s)
        results[path.name] = report.as_dict()
        if not quiet:
            print(report.summary())
    return results
