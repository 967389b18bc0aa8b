"""Building footprints from OSM files (``.osm`` / ``.osm.pbf``) via osmnx ``features_from_xml``,
loaded into ``buildings``.

The other building formats (GeoJSON, Overpass answers, the Korean building Shapefile) are in
:mod:`geo.load.buildings`, which hands OSM files to :func:`load_buildings` here; both key rows by
(osm_type, osm_id), so one building read from either is one row.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from shapely import MultiPolygon, Polygon, to_wkt
from sqlalchemy import text
from sqlalchemy.orm import Session
from tqdm import tqdm

from geo.errors import InvalidInput, LoadError
from geo.load.common import LoadReport, Reject, record_load, sha256_file, upsert
from geo.load.osm_files import _check_fmt, osm_to_clean_xml
from geo.load.osm_tags import WKT_DECIMALS, _isnull, _json_safe, parse_height_m, parse_levels


def read_buildings(path: Path, *, fmt: str | None = None) -> Any:
    """GeoDataFrame of ``building=*`` features of an OSM file (osmnx ``features_from_xml``)."""
    import osmnx as ox

    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="path")
    fmt = _check_fmt(path, fmt, ("osm", "pbf"))
    try:
        with tempfile.TemporaryDirectory(prefix="goldentime-osm-") as tmp:
            src = path
            if fmt == "pbf":
                src = Path(tmp) / "all.osm"
                osm_to_clean_xml(path, src, way_key=None)
            return ox.features_from_xml(src, tags={"building": True})
    except (LoadError, InvalidInput):
        raise
    except Exception as e:
        if type(e).__name__ == "InsufficientResponseError":
            raise LoadError(f"{path.name} has no building=* features", field="file") from e
        raise LoadError(f"cannot read buildings from {path.name}: {e}", field="file") from e


def _building_rows(gdf: Any) -> tuple[list[dict[str, Any]], list[Reject]]:
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    cols = [c for c in gdf.columns if c != "geometry"]
    for i, (idx, rec) in enumerate(gdf.iterrows(), start=1):
        osm_type, osm_id = idx if isinstance(idx, tuple) else ("way", idx)
        ident = f"{osm_type}/{osm_id}"
        geom = rec.geometry
        if geom is None or geom.is_empty:
            rejects.append(Reject(i, "building without geometry", "geometry", ident))
            continue
        if isinstance(geom, Polygon):
            geom = MultiPolygon([geom])
        if not isinstance(geom, MultiPolygon):
            rejects.append(
                Reject(i, f"building is a {geom.geom_type}, not a polygon", "geometry", ident)
            )
            continue
        if not geom.is_valid:
            from shapely import make_valid

            fixed = make_valid(geom)
            polys = [g for g in getattr(fixed, "geoms", [fixed]) if isinstance(g, Polygon)]
            if not polys:
                rejects.append(
                    Reject(i, "building polygon invalid and unrepairable", "geometry", ident)
                )
                continue
            geom = MultiPolygon(polys)
        tags = {c: rec[c] for c in cols if not _isnull(rec[c])}
        tags = _json_safe(tags)
        name = tags.get("name")
        rows.append(
            {
                "osm_type": str(osm_type),
                "osm_id": int(osm_id),
                "name": None if name is None else str(name),
                "building": str(tags.get("building"))[:64] if tags.get("building") else None,
                "height_m": parse_height_m(tags.get("height")),
                "levels": parse_levels(tags.get("building:levels")),
                "geom": to_wkt(geom, rounding_precision=WKT_DECIMALS),
                "raw": json.loads(json.dumps(tags, default=str)),
            }
        )
    rows.sort(key=lambda r: (r["osm_type"], r["osm_id"]))
    return rows, rejects


def load_buildings(
    session: Session,
    *,
    path: Path | str,
    fmt: str | None = None,
    progress: bool = True,
) -> LoadReport:
    """Load ``building=*`` footprints of an OSM file (``.osm`` / ``.osm.pbf``) into ``buildings``.

    Polygons become MultiPolygons; ``height_m`` from ``height``, ``levels`` from
    ``building:levels``. Idempotent upsert on (osm_type, osm_id); buildings inside the file's
    area that the file no longer has are removed. Point-only buildings are rejects (no footprint).
    """
    path = Path(path)
    bar = tqdm(total=3, desc=f"buildings {path.name}", disable=not progress, unit="step")
    gdf = read_buildings(path, fmt=fmt)
    fmt = _check_fmt(path, fmt, ("osm", "pbf"))
    bar.update(1)
    report = LoadReport(kind="buildings", fmt=fmt, path=str(path), sha256=sha256_file(path))
    rows, rejects = _building_rows(gdf)
    report.rows_read = len(gdf)
    report.rejects = rejects
    bar.update(1)
    report.inserted, report.updated = upsert(
        session, table="buildings", rows=rows, key=("osm_type", "osm_id"), chunk=500
    )
    report.unchanged = len(rows) - report.inserted - report.updated
    if rows:
        b = gdf.total_bounds
        area = to_wkt(Polygon.from_bounds(*b).buffer(1e-7), rounding_precision=WKT_DECIMALS)
        removed = session.execute(
            text("""
                delete from buildings b
                where st_coveredby(b.geom, st_geomfromtext(:area, 4326))
                  and (b.osm_type, b.osm_id) not in (
                      select * from unnest(cast(:t as text[]), cast(:i as bigint[])))
            """),
            {"area": area, "t": [r["osm_type"] for r in rows], "i": [r["osm_id"] for r in rows]},
        ).rowcount  # type: ignore[attr-defined]
        if removed:
            report.warnings.append(
                f"removed {removed} buildings of this area no longer in the file"
            )
    bar.update(1)
    bar.close()
    record_load(session, report)
    return report
