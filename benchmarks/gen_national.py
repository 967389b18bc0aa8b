"""A national-scale CCTV standard file for benchmarks and tests: real rows, jittered positions.

Takes the accepted rows of the real Daejeon standard file
(``data/daejeon-cctv/national_standard_cctv_daejeon_2026_cp949.csv``, the current 18-column
layout, CP949) and repeats them over Korean city centres: each copy gets a new 관리번호, the
city's name in place of 대전광역시 in 관리기관명 and the addresses, and a position jittered around
the city centre (normal, sigma a few km, 6 decimals, so no copy looks like a placeholder). Then a
known number of bad rows of every kind the loader rejects is mixed in, plus exact repeats (loaded
once, a warning). The expected report is returned (and written beside the file as JSON).

Never shipped: the file goes under a temporary folder (``--out`` to choose). Deterministic for a
given ``rows`` and ``seed``.

Run: ``.venv/bin/python benchmarks/gen_national.py --rows 1000000``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "data" / "daejeon-cctv" / "national_standard_cctv_daejeon_2026_cp949.csv"

#: (Korean name, lat, lon, weight, sigma_km): city centres the copies are spread over.
CITIES: list[tuple[str, float, float, float, float]] = [
    ("서울특별시", 37.5665, 126.9780, 9.6, 5.0),
    ("부산광역시", 35.1796, 129.0756, 3.3, 4.0),
    ("인천광역시", 37.4563, 126.7052, 2.9, 3.5),
    ("대구광역시", 35.8714, 128.6014, 2.4, 3.5),
    ("대전광역시", 36.3504, 127.3845, 1.5, 3.0),
    ("광주광역시", 35.1595, 126.8526, 1.5, 3.0),
    ("울산광역시", 35.5384, 129.3114, 1.1, 3.0),
    ("수원시", 37.2636, 127.0286, 1.2, 2.5),
    ("창원시", 35.2280, 128.6811, 1.0, 2.5),
    ("청주시", 36.6424, 127.4890, 0.8, 2.5),
    ("전주시", 35.8242, 127.1480, 0.7, 2.0),
    ("제주시", 33.4996, 126.5312, 0.5, 2.0),
]
#: Bad rows mixed in per kind (a ``--rows`` of 20,000 or more holds them all).
BAD_KINDS: dict[str, int] = {
    "missing coordinates": 7,
    "zero coordinates (no location recorded)": 5,
    "coordinates out of range": 3,
    "camera count is not a whole number": 4,
    "unparseable installation date": 6,
    "placeholder coordinate": 12,  # one block of 12 rows, 12 addresses, one point
    "duplicate id": 2,
}
REPEATS = 3  # exact copies of earlier rows: a warning each, loaded once


def real_rows() -> tuple[list[str], list[dict[str, str]]]:
    """Header and the rows of the real file the current loader accepts (placeholders left out)."""
    import sys

    sys.path.insert(0, str(ROOT))
    from geo.load.cameras import parse_cameras
    from geo.load.common import read_csv_rows

    header, rows, _ = read_csv_rows(REAL)
    _, report = parse_cameras(REAL)
    bad = {r.row for r in report.rejects}
    return header, [r for n, r in rows if n not in bad]


def _copies(
    header: list[str], base: list[dict[str, str]], n: int, rng: np.random.Generator
) -> list[list[str]]:
    w = np.array([c[3] for c in CITIES])
    city = rng.choice(len(CITIES), size=n, p=w / w.sum())
    sig = np.array([c[4] for c in CITIES])[city]
    lat0 = np.array([c[1] for c in CITIES])[city]
    lon0 = np.array([c[2] for c in CITIES])[city]
    lat = lat0 + rng.normal(0, 1, n) * sig / 111.32
    lon = lon0 + rng.normal(0, 1, n) * sig / (111.32 * np.cos(np.radians(lat0)))
    out = []
    for i in range(n):
        r = dict(base[i % len(base)])
        name = CITIES[city[i]][0]
        for k in ("관리기관명", "소재지도로명주소", "소재지지번주소"):
            r[k] = r[k].replace("대전광역시", name, 1) if r[k] else r[k]
        if not r["관리기관명"].startswith(name):
            r["관리기관명"] = f"{name} {r['관리기관명']}"
        r["관리번호"] = f"N{i:08d}"
        r["WGS84위도"] = f"{lat[i]:.6f}"
        r["WGS84경도"] = f"{lon[i]:.6f}"
        out.append([r[h] for h in header])
    return out


def _spoil(header: list[str], good: list[list[str]], rng: np.random.Generator) -> dict[int, str]:
    """Turn chosen rows into bad ones in place; returns {index in ``good``: reason kind}."""
    col = {h: i for i, h in enumerate(header)}
    n = len(good)
    picks = iter(
        rng.choice(np.arange(100, n - 100), size=sum(BAD_KINDS.values()) + 1, replace=False)
    )
    kinds: dict[int, str] = {}
    for kind, k in BAD_KINDS.items():
        if kind == "placeholder coordinate":
            continue
        for _ in range(k):
            i = int(next(picks))
            while any(j in kinds for j in (i - 1, i, i + 1)):
                i += 3
            row = good[i]
            if kind == "missing coordinates":
                row[col["WGS84위도"]] = ""
            elif kind.startswith("zero"):
                row[col["WGS84경도"]] = "0"
            elif kind.startswith("coordinates out of range"):
                row[col["WGS84위도"]] = "95.5"
            elif kind.startswith("camera count"):
                row[col["카메라대수"]] = "2.5"
            elif kind.startswith("unparseable"):
                row[col["설치연월"]] = "미상"
            elif kind == "duplicate id":  # same agency and 관리번호 as the row before, other values
                prev = good[i - 1]
                row[col["관리기관명"]] = prev[col["관리기관명"]]
                row[col["관리번호"]] = prev[col["관리번호"]]
            kinds[i] = kind
    # a placeholder block: 12 rows, 12 addresses, one point (like the 990 at 36.1, 127.1)
    start = int(next(picks))
    while any(j in kinds or j - 1 in kinds for j in range(start, start + 13)):
        start += 17
    for j in range(start, start + BAD_KINDS["placeholder coordinate"]):
        good[j][col["WGS84위도"]] = "37.5"
        good[j][col["WGS84경도"]] = "127.05"
        good[j][col["소재지도로명주소"]] = f"서울특별시 가상구 임시로 {j}"
        kinds[j] = "placeholder coordinate"
    return kinds


def generate(rows: int, *, out: Path | None = None, seed: int = 14) -> tuple[Path, dict[str, Any]]:
    """Write ``rows`` data rows (bad rows and repeats included) as CP949 CSV; returns
    (path, expected) where ``expected`` holds ``rows_read``, ``rejects`` by reason,
    ``repeats`` and ``cameras`` (rows that load)."""
    if rows < 1000:
        raise ValueError("rows must be at least 1000")
    header, base = real_rows()
    rng = np.random.default_rng(seed)
    good = _copies(header, base, rows - REPEATS, rng)
    kinds = _spoil(header, good, rng)
    # exact repeats of clean rows, appended at the end
    clean = [i for i in range(len(good) - 1) if i not in kinds and i + 1 not in kinds]
    rep_src = [clean[int(j)] for j in rng.choice(len(clean), size=REPEATS, replace=False)]
    good += [list(good[i]) for i in rep_src]
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="goldentime-national-")) / f"national_{rows}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(good)
    out.write_bytes(buf.getvalue().encode("cp949"))
    # file line of each row (header = line 1): some real fields hold line breaks
    breaks = np.array([sum(v.count("\n") for v in row) for row in good])
    lines = 2 + np.arange(len(good)) + np.concatenate([[0], np.cumsum(breaks)[:-1]])
    rejects: dict[str, int] = {}
    for kind in kinds.values():
        rejects[kind] = rejects.get(kind, 0) + 1
    expected = {
        "rows_read": len(good),
        "rejects": rejects,
        "rejected": len(kinds),
        "repeats": REPEATS,
        "cameras": len(good) - len(kinds) - REPEATS,
        "bad_lines": {str(lines[i]): k for i, k in sorted(kinds.items())},
        "seed": seed,
    }
    out.with_suffix(".expected.json").write_text(json.dumps(expected, ensure_ascii=False))
    return out, expected


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--out", type=Path, default=None, help="file to write (default: a temp dir)")
    args = ap.parse_args()
    path, exp = generate(args.rows, out=args.out, seed=args.seed)
    print(f"{path}: {exp['rows_read']:,} rows, {exp['rejected']} bad {exp['rejects']}")


if __name__ == "__main__":
    main()
