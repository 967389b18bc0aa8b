"""One camera, one row: which records of different sources are the same physical camera.

The same camera often appears in several files: the 2015 facility inventory (``daejeon-2015``), the
national standard data (``kr-standard``) and the district traffic list (``kr-traffic-api``). Every
file's row is a ``camera_sources`` record with its own position; this module pairs records of
different :data:`MERGE_SOURCES` within :data:`MATCH_WITHIN_M`, scores each pair by

* distance (closer is better, linear to 0 at the limit),
* address: the same address key (road address ``월평로14`` from ``월평로 14(월평1동 1152 / ...)`` and
  from ``대전광역시 서구 월평로14``, or lot address ``원신흥동63-3``, from any address field of
  either record), else a text similarity of the normalised addresses,
* purpose: equal, or one side ``other`` (the 2015 inventory's other CCTV), is compatible,

``score = 0.5 (1 - d / 30 m) + 0.3 address + 0.2 purpose``, and decides:

* ``likely`` = mutual best match between the two sources (ties broken by source and external id,
  never by database ids, so the decision does not depend on load order), purposes compatible, and
  the same address key or within :data:`SAME_SPOT_M`. **Only likely pairs merge.**
* ``possible``: everything else within the distance; reported, never merged (two cameras of one
  pole, a 2015 camera whose standard-data site already matched another, different purposes, ...).

:func:`clusters` joins likely pairs, best score first, into groups with at most one record per
source (a pair that would put two records of one source into one camera is reported as
``conflict``, not merged). The groups depend only on the set of records, so loading the files in
any order gives the same merged set, and re-loading a file gives the same groups.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter
from difflib import SequenceMatcher
from itertools import combinations
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.settings import get_settings

#: Sources whose records are matched and merged; any other source's record is its own camera.
MERGE_SOURCES = ("daejeon-2015", "kr-standard", "kr-traffic-api")
#: Primary order of sources (smaller first; any other source ranks after, by name): the record
#: that keys a merged camera row (see :mod:`geo.load.unify`).
SOURCE_RANK = {"kr-standard": 0, "kr-traffic-api": 1, "daejeon-2015": 2}
#: Largest distance between two records of one camera (metres): coordinates of the same pole
#: differ by a few metres between sources, geocoded addresses by tens.
MATCH_WITHIN_M = 30.0
#: Records this close are the same spot whatever their addresses say.
SAME_SPOT_M = 5.0
_ROAD_KEY = re.compile(r"([가-힣A-Za-z0-9]+(?:로|길))\s*(\d+(?:-\d+)?)")
_LOT_KEY = re.compile(r"([가-힣][가-힣0-9]*?(?:동|리|가))\s*(산\s*)?(\d+(?:-\d+)?)")
_CITY = re.compile(r"^(대전광역시|대전시|대전)\s*")
_DISTRICT = re.compile(r"^(동구|중구|서구|유성구|대덕구)\s*")
#: the address-like fields of each layout (in ``raw``) besides ``address`` and ``name``
_ADDRESS_FIELDS = (
    "소재지도로명주소",
    "소재지지번주소",
    "rdnmadr",
    "lnmAdres",
    "address",
    "address_old",
)

Key = tuple[str, str]  # (source, external_id)


def road_key(address: str | None) -> str | None:
    """The road-name address key (``월평로14``, ``신갈마로195번길13``) of an address, if any."""
    if not address:
        return None
    m = _ROAD_KEY.search(address)
    return f"{m.group(1)}{m.group(2)}" if m else None


def address_keys(*texts: str | None) -> set[str]:
    """Every road key (``월평로14``) and lot key (``원신흥동63-3``) found in the texts.

    Words ending in 거리 (``옥녀봉네거리``) are crossroads, not a 동/리, and give no lot key.
    """
    keys: set[str] = set()
    for t in texts:
        if not t:
            continue
        keys.update(f"{m.group(1)}{m.group(2)}" for m in _ROAD_KEY.finditer(t))
        for m in _LOT_KEY.finditer(t):
            if not m.group(1).endswith("거리"):
                keys.add(f"{m.group(1)}{'산' if m.group(2) else ''}{m.group(3)}")
    return keys


def _norm(address: str | None) -> str:
    a = (address or "").strip()
    a = _DISTRICT.sub("", _CITY.sub("", a))
    a = re.sub(r"\(.*?\)", "", a)
    return re.sub(r"\s+", "", a)


def address_similarity(a: str | None, b: str | None) -> float:
    """1 when the road address keys are equal, else the similarity of the normalised texts."""
    ka, kb = road_key(a), road_key(b)
    if ka and kb and ka == kb:
        return 1.0
    na, nb = _norm(a), _norm(b)
    if not na or not nb:
        return 0.0
    return round(SequenceMatcher(None, na, nb).ratio(), 3)


def _compatible(p: str, q: str) -> bool:
    return p == q or "other" in (p, q)


def record_texts(fields: dict[str, Any]) -> list[str]:
    """The address-like texts of a record: its address, name and the layout's address columns."""
    raw = fields.get("raw") or {}
    out = [fields.get("address"), *(raw.get(k) for k in _ADDRESS_FIELDS), fields.get("name")]
    return [str(t) for t in out if t]


#: Pairs of records of two sources within ``:d`` metres (on the spheroid), found from each record
#: ``a`` of the source with fewer records (``:driver``; a national file has a million, the others
#: thousands) among the other's (``:other``), and given as (the record of the source first in
#: name order, the other's) with the distance measured in that order. The candidates come from the
#: records' plain geometry index (a sorted GiST build: 1.6 s at a million records against 5.4 s for
#: a geography index, whose build cannot be sorted): a box of ``:d`` metres around ``a`` in
#: degrees, never too small (at least 110,574 m per degree of latitude on WGS 84, at least
#: 111,319 m x cos(latitude) per degree of longitude), all longitudes of its latitudes where it
#: would cross the antimeridian or come near a pole; the exact test is ``st_dwithin`` on the
#: geography.
_PAIRS_SQL = text("""
select case when :driver < :other then a.id else b.id end as a_rec,
       case when :driver < :other then b.id else a.id end as b_rec,
       case when :driver < :other then st_distance(a.geom::geography, b.geom::geography)
            else st_distance(b.geom::geography, a.geom::geography) end as distance_m
from camera_sources a
cross join lateral (
    select st_x(a.geom) as x, st_y(a.geom) as y, :d / 110000.0 as dy,
           :d / (111000.0 * cos(radians(least(abs(st_y(a.geom)) + :d / 110000.0, 89.0)))) as dx
) m
join camera_sources b on b.source = :other
 and b.geom && case
     when abs(m.y) + m.dy >= 89.0 or abs(m.x) + m.dx >= 180.0
     then st_makeenvelope(-180.0, m.y - m.dy, 180.0, m.y + m.dy, 4326)
     else st_makeenvelope(m.x - m.dx, m.y - m.dy, m.x + m.dx, m.y + m.dy, 4326) end
 and case when :driver < :other then st_dwithin(a.geom::geography, b.geom::geography, :d)
          else st_dwithin(b.geom::geography, a.geom::geography, :d) end
where a.source = :driver
""")
_SOURCE_COUNTS_SQL = text("""
select source, count(*) from camera_sources where source = any(:sources) group by source
""")
_RECORDS_SQL = text("""
select id as rec, camera_id, source, external_id as ext, fields->>'name' as name,
       fields->>'address' as address, fields->>'purpose' as purpose,
       coalesce((fields->>'camera_count')::int, 1) as count, fields as fields
from camera_sources where id = any(:ids)
""")


def _score_pair(p: dict[str, Any], a: dict[str, Any], b: dict[str, Any], within_m: float) -> None:
    d = float(p["distance_m"])
    ta, tb = record_texts(a["fields"]), record_texts(b["fields"])
    common = sorted(address_keys(*ta) & address_keys(*tb))
    sim = 1.0 if common else address_similarity(ta[0] if ta else None, tb[0] if tb else None)
    ok = _compatible(a["purpose"], b["purpose"])
    for side, r in (("a", a), ("b", b)):
        for f in ("rec", "camera_id", "source", "ext", "name", "address", "purpose", "count"):
            p[f"{side}_{f}"] = r[f]
        p[f"{side}_id"] = r["rec"]
    p.update(
        distance_m=round(d, 2),
        address_similarity=sim,
        address_key=common[0] if common else None,
        same_road_address=bool(common),
        purpose_compatible=ok,
        score=round(0.5 * (1 - d / within_m) + 0.3 * sim + 0.2 * ok, 3),
    )


def _decide(pairs: list[dict[str, Any]]) -> None:
    """Mutual best per source pair (ties by (source, external id)), then likely / possible + why."""
    best: dict[tuple[Key, str], tuple[float, Key]] = {}
    for p in pairs:
        for me, other in (("a", "b"), ("b", "a")):
            k = ((p[f"{me}_source"], p[f"{me}_ext"]), p[f"{other}_source"])
            # higher score first; among equals the smallest (source, external_id) wins
            cand = (p["score"], (p[f"{other}_source"], p[f"{other}_ext"]))
            cur = best.get(k)
            if cur is None or cand[0] > cur[0] or (cand[0] == cur[0] and cand[1] < cur[1]):
                best[k] = cand
    for p in pairs:
        ka, kb = (p["a_source"], p["a_ext"]), (p["b_source"], p["b_ext"])
        mutual = best[(ka, p["b_source"])] == (p["score"], kb) and best[(kb, p["a_source"])] == (
            p["score"],
            ka,
        )
        p["mutual_best"] = mutual
        likely = (
            mutual
            and p["purpose_compatible"]
            and (p["same_road_address"] or p["distance_m"] <= SAME_SPOT_M)
        )
        p["decision"] = "likely" if likely else "possible"
        why = [f"{p['distance_m']:.1f} m apart"]
        if p["same_road_address"]:
            why.append(f"same address {p['address_key']}")
        else:
            why.append(f"address similarity {p['address_similarity']:.2f}")
        why.append(
            "purposes compatible"
            if p["purpose_compatible"]
            else f"purposes differ ({p['a_purpose']} / {p['b_purpose']})"
        )
        why.append("mutual best match" if mutual else "not each other's best match")
        p["why"] = "; ".join(why)


def _pair_rows(session: Session, *, within_m: float, sources: list[str]) -> list[Any]:
    """(a_rec, b_rec, distance_m) of every pair of records of two of ``sources`` within
    ``within_m``, ``a`` of the source first in name order (:data:`_PAIRS_SQL`)."""
    n: dict[str, int] = dict(session.execute(_SOURCE_COUNTS_SQL, {"sources": sources}).all())
    rows: list[Any] = []
    for lo, hi in combinations(sorted(n), 2):
        driver, other = (lo, hi) if n[lo] <= n[hi] else (hi, lo)
        args = {"d": float(within_m), "driver": driver, "other": other}
        rows += session.execute(_PAIRS_SQL, args).mappings().all()
    return rows


def match_candidates(
    session: Session,
    *,
    within_m: float = MATCH_WITHIN_M,
    sources: list[str] | tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """Candidate pairs of the same camera among the source records, best first per source pair.

    Each dict: both records (``a_``/``b_``: ``id`` = record id, ``camera_id``, ``source``, ``ext``,
    ``name``, ``address``, ``purpose``, ``count``), ``distance_m``, ``address_similarity``,
    ``address_key``, ``same_road_address``, ``purpose_compatible``, ``score`` (0..1),
    ``mutual_best`` and ``decision`` (``likely`` / ``possible``) with ``why``.
    """
    if not (0 < within_m <= 1000):
        raise InvalidInput("within_m must be within 0..1000 metres", field="within_m")
    srcs = list(sources) if sources is not None else list(MERGE_SOURCES)
    rows = _pair_rows(session, within_m=within_m, sources=srcs)
    ids = sorted({r["a_rec"] for r in rows} | {r["b_rec"] for r in rows})
    recs = {r["rec"]: dict(r) for r in session.execute(_RECORDS_SQL, {"ids": ids}).mappings().all()}
    pairs: list[dict[str, Any]] = []
    for r in rows:
        p: dict[str, Any] = {"distance_m": r["distance_m"]}
        _score_pair(p, recs[r["a_rec"]], recs[r["b_rec"]], within_m)
        pairs.append(p)
    _decide(pairs)
    pairs.sort(key=lambda p: (p["a_source"], p["b_source"], -p["score"], p["a_ext"], p["b_ext"]))
    return pairs


def clusters(keys: list[Key], pairs: list[dict[str, Any]]) -> dict[Key, Key]:
    """Group records into cameras: {record key: group key (its smallest member)}.

    Likely pairs join, best score first (ties by the keys); a join that would put two records of
    one source into one camera is skipped and the pair marked ``conflict``. Sets ``merged`` on
    every pair (True when its two records end in one camera).
    """
    parent: dict[Key, Key] = {k: k for k in keys}
    srcs: dict[Key, set[str]] = {k: {k[0]} for k in keys}

    def find(k: Key) -> Key:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    likely = [p for p in pairs if p["decision"] == "likely"]
    likely.sort(key=lambda p: (-p["score"], p["a_source"], p["a_ext"], p["b_source"], p["b_ext"]))
    for p in likely:
        ra, rb = find((p["a_source"], p["a_ext"])), find((p["b_source"], p["b_ext"]))
        if ra == rb:
            continue
        if srcs[ra] & srcs[rb]:
            p["decision"] = "conflict"
            p["why"] += "; not merged: would put two records of one source into one camera"
            continue
        root, child = min(ra, rb), max(ra, rb)
        parent[child] = root
        srcs[root] |= srcs.pop(child)
    out = {k: find(k) for k in keys}
    for p in pairs:
        p["merged"] = (
            out.get((p["a_source"], p["a_ext"])) == out.get((p["b_source"], p["b_ext"]))
            and p["decision"] == "likely"
        )
    return out


def match_summary(pairs: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts of candidate pairs by ``"source_a ~ source_b"`` and decision."""
    out: dict[str, dict[str, int]] = {}
    for (a, b, dec), n in sorted(
        Counter((p["a_source"], p["b_source"], p["decision"]) for p in pairs).items()
    ):
        out.setdefault(f"{a} ~ {b}", {})[dec] = n
    return out


def reports_dir() -> Path:
    """Where load reports go (``$GOLDENTIME_HOME/reports``)."""
    folder = get_settings().home / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


MATCH_COLUMNS = [
    "decision",
    "score",
    "distance_m",
    "address_key",
    "address_similarity",
    "purpose_compatible",
    "mutual_best",
    "why",
    *(
        f"{s}_{f}"
        for s in "ab"
        for f in ("camera_id", "source", "ext", "name", "address", "purpose", "count")
    ),
]


def write_match_report(pairs: list[dict[str, Any]], path: Path | None = None) -> Path:
    """Write the pairs as CSV (UTF-8 with BOM, opens in Excel) and return the path."""
    if path is None:
        path = reports_dir() / f"camera-matches-{dt.datetime.now():%Y%m%dT%H%M%S}.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=MATCH_COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(pairs)
    return Path(path)


_FILES_SQL = text("""
select distinct on (path) path, fmt, rows_read, rejected from data_loads
where kind = 'cameras' and fmt = any(:fmts) order by path, id desc
""")
#: the loader formats whose records are in MERGE_SOURCES, and their source
FORMAT_SOURCE = {
    "kr-standard": "kr-standard",
    "daejeon-2015": "daejeon-2015",
    "daejeon-2015-clean": "daejeon-2015",
    "kr-traffic-api": "kr-traffic-api",
}


def merge_counts(session: Session, result: dict[str, Any], *, report: Any = None) -> dict[str, Any]:
    """Counts that explain the merged set against the files.

    Per file: rows read, rejected, accepted (= records). Per source: records, ``merged_into``
    (records attached to a camera whose primary record is another source's) and ``own_rows``.
    ``cameras`` = the sum of ``own_rows``; ``by_district_purpose`` splits the same numbers by the
    merged camera's district (from its records' agency/address, ``unknown`` when none says) and
    purpose. ``pairs``: merged / possible / conflict pairs by source pair.
    """
    files = {
        r["path"]: dict(r)
        for r in session.execute(_FILES_SQL, {"fmts": list(FORMAT_SOURCE)}).mappings()
    }
    if report is not None and report.fmt in FORMAT_SOURCE:
        files[report.path] = {
            "path": report.path,
            "fmt": report.fmt,
            "rows_read": report.rows_read,
            "rejected": report.rejected,
        }
    for f in files.values():
        f["source"] = FORMAT_SOURCE[f["fmt"]]
        f["accepted"] = f["rows_read"] - f["rejected"]
    sources: dict[str, dict[str, int]] = {
        s: {"records": 0, "merged_into": 0, "own_rows": 0} for s in MERGE_SOURCES
    }
    cells: dict[tuple[str, str], dict[str, int]] = {}

    def cell_of(district: str | None, purpose: str) -> dict[str, int]:
        return cells.setdefault(
            (district or "unknown", purpose),
            {**{s: 0 for s in MERGE_SOURCES}, "merged_into": 0, "cameras": 0},
        )

    # the records a partial merge left alone, one camera each, counted by the database
    # (source, district, purpose, records): geo.load.merge_scope
    for src, district, purpose, n in result.get("singletons", ()):
        cell = cell_of(district, purpose)
        cell["cameras"] += n
        cell[src] += n
        sources[src]["records"] += n
        sources[src]["own_rows"] += n
    for g, members in result["groups"].items():
        if g[0] not in MERGE_SOURCES:
            continue
        primary = min(members, key=lambda k: (SOURCE_RANK.get(k[0], 9), k))
        cell = cell_of(result["districts"][g], result["purposes"][g])
        cell["cameras"] += 1
        for k in members:
            sources[k[0]]["records"] += 1
            cell[k[0]] += 1
            if k == primary:
                sources[k[0]]["own_rows"] += 1
            else:
                sources[k[0]]["merged_into"] += 1
                cell["merged_into"] += 1
    pairs: dict[str, dict[str, int]] = {}
    for p in result["pairs"]:
        dec = "merged" if p.get("merged") else p["decision"]
        c = pairs.setdefault(f"{p['a_source']} ~ {p['b_source']}", {})
        c[dec] = c.get(dec, 0) + 1
    return {
        "files": sorted(files.values(), key=lambda f: f["path"]),
        "sources": sources,
        "cameras": sum(s["own_rows"] for s in sources.values()),
        "by_district_purpose": [
            {"district": d, "purpose": p, **c} for (d, p), c in sorted(cells.items())
        ],
        "pairs": pairs,
    }


def write_merge_report(
    session: Session,
    result: dict[str, Any],
    *,
    report: Any = None,
    sources: list[str] | None = None,
    folder: Path | None = None,
) -> list[str]:
    """Write the merge report (CSV of every pair with its decision and why, JSON of the counts)
    under the reports folder; returns summary lines for the load report."""
    import json

    if sources is not None and not set(sources) & set(MERGE_SOURCES):
        return []
    counts = merge_counts(session, result, report=report)
    folder = folder or reports_dir()
    stem = f"camera-merge-{dt.datetime.now():%Y%m%dT%H%M%S%f}"
    camera_of = {
        (m[0], m[1]): result["camera_of"][g] for g, ms in result["groups"].items() for m in ms
    }
    rows = [
        {
            **p,
            "merged": bool(p.get("merged")),
            "camera_id": camera_of.get((p["a_source"], p["a_ext"])),
        }
        for p in result["pairs"]
    ]
    csv_path = folder / f"{stem}.csv"
    with open(csv_path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(
            f, fieldnames=["merged", "camera_id", *MATCH_COLUMNS], extrasaction="ignore"
        )
        w.writeheader()
        w.writerows(sorted(rows, key=lambda r: (not r["merged"], r["decision"], -r["score"])))
    json_path = folder / f"{stem}.json"
    json_path.write_text(json.dumps(counts, ensure_ascii=False, indent=1), encoding="utf-8")
    lines = []
    for s, c in counts["sources"].items():
        lines.append(
            f"one camera, one row: {s} {c['records']} records = {c['own_rows']} own rows + "
            f"{c['merged_into']} merged into another source's camera"
        )
    lines.append(
        f"one camera, one row: {counts['cameras']} camera rows from "
        f"{', '.join(MERGE_SOURCES)}; pairs within {MATCH_WITHIN_M:g} m: "
        + "; ".join(
            f"{k} " + ", ".join(f"{n} {d}" for d, n in sorted(v.items()))
            for k, v in counts["pairs"].items()
        )
        + " (only likely pairs merge)"
    )
    lines.append(f"merge report: {csv_path} and {json_path}")
    return lines


__all__ = [
    "MATCH_WITHIN_M",
    "MERGE_SOURCES",
    "SAME_SPOT_M",
    "SOURCE_RANK",
    "address_keys",
    "address_similarity",
    "clusters",
    "match_candidates",
    "match_summary",
    "merge_counts",
    "record_texts",
    "road_key",
    "write_match_report",
    "write_merge_report",
]
