"""One camera, one row (first step): candidate matches of the same physical camera across sources.

The same camera often appears in several files: the 2015 facility inventory (``daejeon-2015``), the
national standard data (``kr-standard``) and the district traffic list (``kr-traffic-api``). This
module only *reports* candidate pairs; nothing is merged yet. A pair is two cameras of different
sources within :data:`MATCH_WITHIN_M`, scored by

* distance (closer is better, linear to 0 at the limit),
* address: the road address key (``월평로 14`` from ``월평로 14(월평1동 1152 / ...)`` and from
  ``대전광역시 서구 월평로14``) equal, else a text similarity of the normalised addresses,
* purpose: equal, or one side ``other`` (the 2015 inventory's other CCTV), is compatible.

``likely`` = mutual best match between the two sources, purposes compatible, and the same road
address or within :data:`SAME_SPOT_M`; everything else is ``possible``.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.settings import get_settings

#: Largest distance between two records of one camera (metres): coordinates of the same pole
#: differ by a few metres between sources, geocoded addresses by tens.
MATCH_WITHIN_M = 30.0
#: Records this close are the same spot whatever their addresses say.
SAME_SPOT_M = 5.0
_ROAD_KEY = re.compile(r"([가-힣A-Za-z0-9]+(?:로|길))\s*(\d+(?:-\d+)?)")
_CITY = re.compile(r"^(대전광역시|대전시|대전)\s*")
_DISTRICT = re.compile(r"^(동구|중구|서구|유성구|대덕구)\s*")


def road_key(address: str | None) -> str | None:
    """The road-name address key (``월평로14``, ``신갈마로195번길13``) of an address, if any."""
    if not address:
        return None
    m = _ROAD_KEY.search(address)
    return f"{m.group(1)}{m.group(2)}" if m else None


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


_PAIRS_SQL = text("""
select a.id as a_id, a.source as a_source, a.external_id as a_ext, a.name as a_name,
       a.address as a_address, a.purpose as a_purpose, a.camera_count as a_count,
       b.id as b_id, b.source as b_source, b.external_id as b_ext, b.name as b_name,
       b.address as b_address, b.purpose as b_purpose, b.camera_count as b_count,
       st_distance(a.geom::geography, b.geom::geography) as distance_m
from cameras a
join cameras b on a.source < b.source
 and st_dwithin(a.geom::geography, b.geom::geography, :d)
where (cast(:sources as text[]) is null or (a.source = any(:sources) and b.source = any(:sources)))
""")


def match_candidates(
    session: Session, *, within_m: float = MATCH_WITHIN_M, sources: list[str] | None = None
) -> list[dict[str, Any]]:
    """Candidate pairs of the same camera in different sources, best first per source pair.

    Each dict: both cameras (id, source, external id, name, address, purpose, count),
    ``distance_m``, ``address_similarity``, ``same_road_address``, ``purpose_compatible``,
    ``score`` (0..1), ``mutual_best`` and ``decision`` (``likely`` / ``possible``) with ``why``.
    """
    if not (0 < within_m <= 1000):
        raise InvalidInput("within_m must be within 0..1000 metres", field="within_m")
    rows = session.execute(_PAIRS_SQL, {"d": float(within_m), "sources": sources}).mappings().all()
    pairs: list[dict[str, Any]] = []
    for r in rows:
        p = dict(r)
        d = float(p["distance_m"])
        sim = address_similarity(p["a_address"] or p["a_name"], p["b_address"] or p["b_name"])
        same_key = sim == 1.0 and road_key(p["a_address"] or p["a_name"]) is not None
        ok = _compatible(p["a_purpose"], p["b_purpose"])
        p.update(
            distance_m=round(d, 2),
            address_similarity=sim,
            same_road_address=same_key,
            purpose_compatible=ok,
            score=round(0.5 * (1 - d / within_m) + 0.3 * sim + 0.2 * ok, 3),
        )
        pairs.append(p)
    # best partner of each camera in each other source
    best: dict[tuple[int, str], tuple[float, int]] = {}
    for p in pairs:
        for me, other in (("a", "b"), ("b", "a")):
            k = (p[f"{me}_id"], p[f"{other}_source"])
            cand = (p["score"], -p[f"{other}_id"])
            if k not in best or cand > best[k]:
                best[k] = cand
    for p in pairs:
        mutual = best[(p["a_id"], p["b_source"])] == (p["score"], -p["b_id"]) and best[
            (p["b_id"], p["a_source"])
        ] == (p["score"], -p["a_id"])
        p["mutual_best"] = mutual
        likely = (
            mutual
            and p["purpose_compatible"]
            and (p["same_road_address"] or p["distance_m"] <= SAME_SPOT_M)
        )
        p["decision"] = "likely" if likely else "possible"
        why = [f"{p['distance_m']:.1f} m apart"]
        if p["same_road_address"]:
            why.append(f"same road address {road_key(p['a_address'] or p['a_name'])}")
        else:
            why.append(f"address similarity {p['address_similarity']:.2f}")
        why.append(
            "purposes compatible"
            if p["purpose_compatible"]
            else f"purposes differ ({p['a_purpose']} / {p['b_purpose']})"
        )
        why.append("mutual best match" if mutual else "not each other's best match")
        p["why"] = "; ".join(why)
    pairs.sort(key=lambda p: (p["a_source"], p["b_source"], -p["score"], p["a_id"], p["b_id"]))
    return pairs


def match_summary(pairs: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts of candidate pairs by ``"source_a ~ source_b"`` and decision."""
    out: dict[str, dict[str, int]] = {}
    for (a, b, dec), n in sorted(
        Counter((p["a_source"], p["b_source"], p["decision"]) for p in pairs).items()
    ):
        out.setdefault(f"{a} ~ {b}", {})[dec] = n
    return out


def write_match_report(pairs: list[dict[str, Any]], path: Path | None = None) -> Path:
    """Write the pairs as CSV (UTF-8 with BOM, opens in Excel) and return the path."""
    if path is None:
        folder = get_settings().home / "reports"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"camera-matches-{dt.datetime.now():%Y%m%dT%H%M%S}.csv"
    cols = [
        "decision",
        "score",
        "distance_m",
        "address_similarity",
        "purpose_compatible",
        "mutual_best",
        "why",
        *(
            f"{s}_{f}"
            for s in "ab"
            for f in ("id", "source", "ext", "name", "address", "purpose", "count")
        ),
    ]
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(pairs)
    return Path(path)


__all__ = [
    "MATCH_WITHIN_M",
    "SAME_SPOT_M",
    "address_similarity",
    "match_candidates",
    "match_summary",
    "road_key",
    "write_match_report",
]
