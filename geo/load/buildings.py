"""Building footprints from GeoJSON, raw Overpass API answers and the Korean building Shapefile.

Formats (``fmt``; detected from the file when omitted):

* ``geojson``: Polygon / MultiPolygon features. OSM-derived files (``osm_type`` + ``osm_id``
  properties, or an ``@id`` / ``id`` like ``way/123``) keep their OSM identity, so the same building
  from an Overpass answer, an OSM file or this GeoJSON is one row. Other files are keyed by their
  ``id`` property, else by a hash of the geometry (``osm_type = 'geojson'``).
* ``overpass``: an Overpass API JSON answer (``{"elements": [...]}``, as osmnx caches them):
  ``building=*`` ways (closed rings) and ``type=multipolygon`` relations (outer / inner member
  ways assembled into rings). A building node has no footprint and is a reject.
* ``kr-building``: the official Korean building layout (GIS건물통합정보, AL_D010 / CH_D010 change
  files): a Shapefile with fields ``A0``-``A30`` (:data:`KR_BUILDING_FIELDS`). The CRS is read from
  the ``.prj`` (usually EPSG:5186), the text encoding from the ``.cst`` (EUC-KR). Keyed by the
  national building id ``A1``; rows with ``A29 = 'D'`` (change files) delete that building.

Height: the recorded height (OSM ``height``, Korean ``A16``) where there is one, else the storeys
(OSM ``building:levels``, Korean ``A26`` 지상층수) times :data:`STOREY_HEIGHT_M`; ``raw.height_source``
says which. Loads are idempotent upserts on (osm_type, osm_id) in the caller's transaction. Buildings
a file no longer has are not removed (answers and change files cover parts of an area only).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import shapely
from shapely import LineString, MultiPolygon, Polygon, make_valid, to_wkt
from shapely.ops import polygonize, unary_union
from sqlalchemy import text
from sqlalchemy.orm import Session
from tqdm import tqdm

from geo.errors import InvalidInput, LoadError
from geo.load.common import LoadReport, Reject, decode_bytes, record_load, sha256_file, upsert
from geo.load.osm_tags import WKT_DECIMALS, parse_height_m, parse_levels

BUILDING_FORMATS = ("geojson", "overpass", "kr-building")
#: Height assumed per storey when only the number of storeys is known (metres).
STOREY_HEIGHT_M = 3.0
#: ``osm_type`` of rows from the Korean building layout (keyed by a hash of ``A1``).
KR_TYPE = "kr-gis"

#: Field meanings of the Korean GIS건물통합정보 layout (국가공간정보포털, AL_D010 / CH_D010).
KR_BUILDING_FIELDS: dict[str, str] = {
    "A0": "원천도형ID (source feature id, unique per district file only)",
    "A1": "GIS건물통합식별번호 (national building id, 28 digits)",
    "A2": "고유번호 (parcel PNU)",
    "A3": "법정동코드 (legal-dong code)",
    "A4": "법정동명 (legal-dong address)",
    "A5": "지번 (lot number)",
    "A6": "특수지코드",
    "A7": "특수지구분명",
    "A8": "건축물용도코드 (main use code)",
    "A9": "건축물용도명 (main use)",
    "A10": "건축물구조코드 (structure code)",
    "A11": "건축물구조명 (structure)",
    "A12": "건축면적 (building area, m2)",
    "A13": "사용승인일자 (approval date)",
    "A14": "연면적 (total floor area, m2)",
    "A15": "대지면적 (site area, m2)",
    "A16": "높이 (height, m)",
    "A17": "건폐율 (building coverage ratio, %)",
    "A18": "용적률 (floor area ratio, %)",
    "A19": "건축물ID (building register id)",
    "A20": "위반건축물여부 (violation flag)",
    "A21": "참조체계연계키 (reference key)",
    "A22": "데이터기준일자 (reference date)",
    "A23": "serial number (not described with the file)",
    "A24": "건물명 (building name)",
    "A25": "동명칭 (wing / block name)",
    "A26": "지상층수 (storeys above ground)",
    "A27": "지하층수 (storeys below ground)",
    "A28": "데이터생성변경일자 (change date)",
    "A29": "변동구분 (change kind: U update, D delete)",
    "A30": "시군구코드 (district code)",
}


def detect_building_format(path: Path) -> str:
    """``geojson`` | ``overpass`` | ``kr-building`` from the file name (and a JSON's shape)."""
    name = path.name.lower()
    if name.endswith((".shp", ".shp.zip")):
        return "kr-building"
    if name.endswith((".geojson", ".json")):
        with open(path, "rb") as f:
            head = f.read(4096)
        return (
            "overpass"
            if b'"elements"' in head and b'"FeatureCollection"' not in head
            else "geojson"
        )
    raise LoadError(
        f"cannot tell the format of {path.name}: expected .geojson, an Overpass .json or a "
        "Korean building .shp (or pass --format)",
        field="format",
    )


def _stable_id(s: str) -> int:
    """A positive 60-bit id from a text id (for sources whose ids do not fit a bigint)."""
    return int(hashlib.sha1(s.encode()).hexdigest()[:15], 16)


def _as_multipolygon(geom: Any) -> MultiPolygon | str:
    """The footprint as a valid MultiPolygon, or the reason it cannot be one."""
    if geom is None or geom.is_empty:
        return "building without geometry"
    if isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    if not isinstance(geom, MultiPolygon):
        return f"building is a {geom.geom_type}, not a polygon"
    if not geom.is_valid:
        fixed = make_valid(geom)
        polys = [g for g in getattr(fixed, "geoms", [fixed]) if isinstance(g, Polygon)]
        polys = [p for p in polys if not p.is_empty and p.area > 0]
        if not polys:
            return "building polygon invalid and unrepairable"
        geom = MultiPolygon(polys)
    if geom.area <= 0:
        return "building polygon of zero area"
    geom = shapely.normalize(geom)  # one ring order and start: same footprint, same row
    x0, y0, x1, y1 = geom.bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        return "building coordinates out of lon/lat range"
    return geom


def _height(
    height: float | None, levels: float | None, *, source: str
) -> tuple[float | None, str | None]:
    if height is not None and height > 0:
        return round(height, 3), source
    if levels is not None and levels > 0:
        return round(levels * STOREY_HEIGHT_M, 3), f"storeys x {STOREY_HEIGHT_M:g} m"
    return None, None


def _row(
    *,
    osm_type: str,
    osm_id: int,
    geom: MultiPolygon,
    name: Any,
    building: Any,
    height_m: float | None,
    levels: float | None,
    raw: dict[str, Any],
) -> dict[str, Any]:
    return {
        "osm_type": osm_type[:16],
        "osm_id": int(osm_id),
        "name": None if name in (None, "") else str(name),
        "building": None if building in (None, "") else str(building)[:64],
        "height_m": height_m,
        "levels": levels,
        "geom": to_wkt(geom, rounding_precision=WKT_DECIMALS),
        "raw": json.loads(json.dumps(raw, ensure_ascii=False, default=str)),
    }


def _tags_row(
    n: int, osm_type: str, osm_id: int, geom: Any, tags: dict[str, Any]
) -> dict[str, Any] | Reject:
    mp = _as_multipolygon(geom)
    if isinstance(mp, str):
        return Reject(n, mp, "geometry", f"{osm_type}/{osm_id}")
    levels = parse_levels(tags.get("building:levels"))
    height_m, hsrc = _height(parse_height_m(tags.get("height")), levels, source="height")
    raw = dict(tags)
    if hsrc:
        raw["height_source"] = hsrc
    return _row(
        osm_type=osm_type,
        osm_id=osm_id,
        geom=mp,
        name=tags.get("name"),
        building=tags.get("building"),
        height_m=height_m,
        levels=levels,
        raw=raw,
    )


# --------------------------------------------------------------------------- GeoJSON


def geojson_rows(path: Path) -> tuple[list[dict[str, Any]], list[Reject], int]:
    """Rows from a GeoJSON FeatureCollection of footprints; (rows, rejects, features read)."""
    textdata, _ = decode_bytes(path.read_bytes(), path=str(path))
    try:
        doc = json.loads(textdata)
    except json.JSONDecodeError as e:
        raise LoadError(f"{path.name} is not valid JSON: {e}", field="file") from None
    if not isinstance(doc, dict) or doc.get("type") not in ("FeatureCollection", "Feature"):
        raise LoadError(f"{path.name} is not a GeoJSON FeatureCollection", field="file")
    crs_name = str(((doc.get("crs") or {}).get("properties") or {}).get("name", ""))
    if crs_name and not crs_name.endswith(("CRS84", "4326")):
        raise LoadError(
            f"{path.name} declares CRS {crs_name}; GeoJSON footprints must be lon/lat (RFC 7946)",
            field="crs",
        )
    feats = doc.get("features") if doc.get("type") == "FeatureCollection" else [doc]
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for n, f in enumerate(feats or [], start=1):
        if not isinstance(f, dict):
            rejects.append(Reject(n, "feature is not an object", "feature", ""))
            continue
        props = {k: v for k, v in (f.get("properties") or {}).items() if v is not None}
        try:
            geom = shapely.geometry.shape(f["geometry"]) if f.get("geometry") else None
        except Exception as e:  # malformed coordinates
            rejects.append(Reject(n, f"unreadable geometry: {e}", "geometry", ""))
            continue
        osm_type, osm_id = _osm_identity(props, f.get("id"))
        if osm_type is None:
            ident = props.get("id") or f.get("id")
            key = str(ident) if ident is not None else (geom.wkb_hex if geom is not None else "")
            osm_type, osm_id = "geojson", _stable_id(f"{path.stem}:{key}")
        tags = {k: v for k, v in props.items() if k not in ("osm_type", "osm_id", "@id", "element")}
        rows.append(_tags_row(n, osm_type, osm_id, geom, tags))  # type: ignore[arg-type]
    good = [r for r in rows if isinstance(r, dict)]
    rejects += [r for r in rows if isinstance(r, Reject)]
    return good, rejects, len(feats or [])


def _osm_identity(props: dict[str, Any], fid: Any) -> tuple[str | None, int]:
    t, i = props.get("osm_type") or props.get("element"), props.get("osm_id")
    if t in ("way", "relation", "node") and i is not None:
        try:
            return str(t), int(i)
        except (TypeError, ValueError):
            pass
    for cand in (props.get("@id"), props.get("id"), fid):
        if isinstance(cand, str) and "/" in cand:
            t2, _, i2 = cand.partition("/")
            if t2 in ("way", "relation", "node") and i2.isdigit():
                return t2, int(i2)
    return None, 0


# --------------------------------------------------------------------------- Overpass JSON


def _rings_from_ways(ways: list[list[tuple[float, float]]]) -> list[Polygon]:
    """Closed rings assembled from member ways (ways may be cut into several pieces)."""
    lines = [LineString(w) for w in ways if len(w) >= 2]
    return [p for p in polygonize(unary_union(lines)) if p.area > 0] if lines else []


def overpass_rows(path: Path) -> tuple[list[dict[str, Any]], list[Reject], int]:
    """Rows from one Overpass API JSON answer; rejects are numbered by element (1-based)."""
    textdata, _ = decode_bytes(path.read_bytes(), path=str(path))
    try:
        doc = json.loads(textdata)
    except json.JSONDecodeError as err:
        raise LoadError(f"{path.name} is not valid JSON: {err}", field="file") from None
    els = doc.get("elements") if isinstance(doc, dict) else None
    if not isinstance(els, list):
        raise LoadError(f"{path.name} is not an Overpass answer (no elements)", field="file")
    nodes: dict[int, tuple[float, float]] = {}
    ways: dict[int, list[int]] = {}
    for e in els:
        if not isinstance(e, dict):
            continue
        if e.get("type") == "node" and "lat" in e and "lon" in e:
            nodes[int(e["id"])] = (float(e["lon"]), float(e["lat"]))
        elif e.get("type") == "way":
            ways[int(e["id"])] = [int(r) for r in e.get("nodes", [])]
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    read = 0
    for n, e in enumerate(els, start=1):
        if not isinstance(e, dict) or "building" not in (e.get("tags") or {}):
            continue
        read += 1
        tags = dict(e["tags"])
        etype, eid = str(e.get("type")), int(e.get("id", 0))
        ident = f"{etype}/{eid}"
        if etype == "node":
            rejects.append(Reject(n, "building mapped as a point: no footprint", "geometry", ident))
            continue
        if etype == "way":
            refs = ways.get(eid, [])
            missing = [r for r in refs if r not in nodes]
            if missing:
                rejects.append(
                    Reject(
                        n, f"way references {len(missing)} nodes not in the answer", "nodes", ident
                    )
                )
                continue
            if len(refs) < 4 or refs[0] != refs[-1]:
                rejects.append(Reject(n, "building way is not a closed ring", "geometry", ident))
                continue
            geom: Any = Polygon([nodes[r] for r in refs])
        elif etype == "relation":
            if tags.get("type") != "multipolygon":
                rejects.append(
                    Reject(n, f"building relation of type {tags.get('type')!r}", "type", ident)
                )
                continue
            outer: list[list[tuple[float, float]]] = []
            inner: list[list[tuple[float, float]]] = []
            missing_ways = 0
            for m in e.get("members", []):
                if m.get("type") != "way":
                    continue
                member = ways.get(int(m["ref"]))
                if member is None or any(r not in nodes for r in member):
                    missing_ways += 1
                    continue
                (inner if m.get("role") == "inner" else outer).append([nodes[r] for r in member])
            if missing_ways:
                rejects.append(
                    Reject(
                        n, f"{missing_ways} member ways missing from the answer", "members", ident
                    )
                )
                continue
            outers = _rings_from_ways(outer)
            if not outers:
                rejects.append(Reject(n, "no closed outer ring", "geometry", ident))
                continue
            holes = unary_union(_rings_from_ways(inner)) if inner else None
            shell = unary_union(outers)
            geom = shell.difference(holes) if holes is not None else shell
        else:
            continue
        res = _tags_row(n, etype, eid, geom, tags)
        (rejects if isinstance(res, Reject) else rows).append(res)  # type: ignore[arg-type]
    return rows, rejects, read


# --------------------------------------------------------------------------- Korean Shapefile


def _cst_encoding(path: Path) -> str | None:
    cst = path.with_suffix(".cst")
    if not cst.is_file():
        return None
    enc = cst.read_text(encoding="ascii", errors="ignore").strip().lower()
    return {"euc-kr": "cp949", "euckr": "cp949", "ks_c_5601-1987": "cp949"}.get(enc, enc or None)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def kr_building_rows(
    path: Path, *, crs: str | None = None
) -> tuple[list[dict[str, Any]], list[Reject], list[int], int, list[str]]:
    """Rows of a Korean building Shapefile: (rows, rejects, ids to delete, rows read, notes)."""
    import geopandas as gpd

    from geo.load.lines import to_wgs84

    enc = _cst_encoding(path)
    notes = [f"text encoding {enc} (from {path.with_suffix('.cst').name})"] if enc else []
    try:
        gdf = gpd.read_file(path, encoding=enc) if enc else gpd.read_file(path)
    except Exception as e:
        raise LoadError(f"cannot read {path.name}: {e}", field="file") from e
    missing = [c for c in ("A1", "A26") if c not in gdf.columns]
    if missing:
        raise LoadError(
            f"{path.name} lacks the Korean building fields {missing} (A0-A30 layout)", field="file"
        )
    if gdf.crs is not None and not crs:
        notes.append(f"CRS {gdf.crs.to_string()} (from {path.with_suffix('.prj').name})")
    gdf = to_wgs84(gdf, crs=crs, name=path.name)
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    deletes: list[int] = []
    seen: dict[int, tuple[int, dict[str, Any]]] = {}
    cols = [c for c in gdf.columns if c != "geometry"]
    for n, (rec, geom) in enumerate(
        zip(gdf[cols].to_dict("records"), gdf.geometry, strict=True), start=1
    ):
        bid = str(rec.get("A1") or "").strip()
        if not bid or bid.lower() == "nan":
            rejects.append(Reject(n, "no building id (A1)", "A1", ""))
            continue
        osm_id = _stable_id(bid)
        if str(rec.get("A29") or "").strip().upper() == "D":
            deletes.append(osm_id)
            continue
        mp = _as_multipolygon(geom)
        if isinstance(mp, str):
            rejects.append(Reject(n, mp, "geometry", bid))
            continue
        levels = _num(rec.get("A26"))
        levels = levels if levels is not None and levels >= 0 else None
        height_m, hsrc = _height(_num(rec.get("A16")), levels, source="A16")
        raw = {k: v for k, v in rec.items() if v is not None and v == v and v != ""}
        if hsrc:
            raw["height_source"] = hsrc
        name = " ".join(
            str(rec.get(k)) for k in ("A24", "A25") if rec.get(k) and rec.get(k) == rec.get(k)
        )
        row = _row(
            osm_type=KR_TYPE,
            osm_id=osm_id,
            geom=mp,
            name=name or None,
            building=rec.get("A9"),
            height_m=height_m,
            levels=levels,
            raw=raw,
        )
        if osm_id in seen:
            first_n, first = seen[osm_id]
            if first["geom"] == row["geom"]:
                notes.append(f"row {n} repeats building {bid} of row {first_n}; loaded once")
            else:
                rejects.append(
                    Reject(
                        n, f"building id {bid} of row {first_n} with another footprint", "A1", bid
                    )
                )
            continue
        seen[osm_id] = (n, row)
        rows.append(row)
    return rows, rejects, deletes, len(gdf), notes


# --------------------------------------------------------------------------- load


def load_building_file(
    session: Session,
    *,
    path: Path | str,
    fmt: str | None = None,
    crs: str | None = None,
    progress: bool = True,
) -> LoadReport:
    """Load footprints from GeoJSON, an Overpass answer or a Korean building Shapefile.

    One transaction (the caller's), a ``data_loads`` row of kind ``buildings``, every unusable
    feature in the reject report with its feature / element / row number and the reason.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}", field="path")
    fmt = (fmt or detect_building_format(path)).lower()
    if fmt not in BUILDING_FORMATS:
        raise InvalidInput(
            f"format must be one of {', '.join(BUILDING_FORMATS)}, not {fmt!r}", field="format"
        )
    bar = tqdm(total=2, desc=f"buildings {path.name}", disable=not progress, unit="step")
    report = LoadReport(kind="buildings", fmt=fmt, path=str(path), sha256=sha256_file(path))
    deletes: list[int] = []
    if fmt == "geojson":
        rows, rejects, read = geojson_rows(path)
    elif fmt == "overpass":
        rows, rejects, read = overpass_rows(path)
    else:
        rows, rejects, deletes, read, notes = kr_building_rows(path, crs=crs)
        report.encoding = _cst_encoding(path)
        report.warnings += notes
    bar.update(1)
    rows.sort(key=lambda r: (r["osm_type"], r["osm_id"]))
    report.rows_read = read
    report.rejects = rejects
    report.inserted, report.updated = upsert(
        session, table="buildings", rows=rows, key=("osm_type", "osm_id"), chunk=500
    )
    report.unchanged = len(rows) - report.inserted - report.updated
    if deletes:
        removed = session.execute(
            text("delete from buildings where osm_type = :t and osm_id = any(:ids)"),
            {"t": KR_TYPE, "ids": deletes},
        ).rowcount  # type: ignore[attr-defined]
        report.warnings.append(
            f"{len(deletes)} deletion records (A29 = D, no footprint): {removed} buildings removed"
        )
    with_h = sum(1 for r in rows if r["height_m"] is not None)
    from_storeys = sum(
        1 for r in rows if str((r["raw"] or {}).get("height_source", "")).startswith("storeys")
    )
    report.warnings.append(
        f"height known for {with_h} of {len(rows)} buildings ({from_storeys} from storeys x "
        f"{STOREY_HEIGHT_M:g} m)"
    )
    bar.update(1)
    bar.close()
    record_load(session, report)
    return report


def load_buildings_any(
    session: Session,
    *,
    path: Path | str,
    fmt: str | None = None,
    progress: bool = True,
    **kw: Any,
) -> LoadReport:
    """Load any building file: OSM XML / PBF via osmnx, else GeoJSON / Overpass / Korean .shp."""
    path = Path(path)
    name = path.name.lower()
    if (fmt or "").lower() in ("osm", "pbf") or (
        fmt is None and name.endswith((".osm", ".pbf", ".osm.xml"))
    ):
        from geo.load.osm_buildings import load_buildings

        return load_buildings(session, path=path, fmt=fmt, progress=progress)
    return load_building_file(session, path=path, fmt=fmt, progress=progress, **kw)


__all__ = [
    "BUILDING_FORMATS",
    "KR_BUILDING_FIELDS",
    "STOREY_HEIGHT_M",
    "detect_building_format",
    "geojson_rows",
    "kr_building_rows",
    "load_building_file",
    "load_buildings_any",
    "overpass_rows",
]
