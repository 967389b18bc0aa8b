"""The national CCTV standard data read column-wise: the row loader's rules, once per column.

:mod:`geo.load.cameras` reads a file into a dict per row and checks it row by row: fine for a city,
minutes for the national registry. Here the same rules run over columns: every scalar rule of the
row path (:func:`~geo.load.common.parse_float`, :func:`~geo.load.cameras.kr_direction`,
``_parse_month``, ...) is called once per *distinct value* of its column (or by numpy where that is
provably the same value), and the placeholder and suspect-location rules run as group-bys. The
result is the row path's: the same rows, and the same rejects (line, reason, field, value) and
warnings in the same order (``tests/test_load_bulk.py`` compares them). :mod:`geo.load.bulk` puts
the rows into PostGIS.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.load import cameras as rowpath
from geo.load.common import (
    LoadReport,
    Reject,
    check_wgs84,
    decode_bytes,
    parse_float,
    parse_int,
    read_csv_rows,
)

SOURCE = "kr-standard"


@dataclass
class Columns:
    """A CSV as columns: header, file line of each row (header = line 1), stripped values."""

    header: list[str]
    lines: np.ndarray
    cols: dict[str, np.ndarray]  # by header name (the last column of a repeated name wins)
    encoding: str

    def __len__(self) -> int:
        return len(self.lines)

    def get(self, name: str) -> np.ndarray:
        """The column's values, or ``None`` everywhere when the file has no such column."""
        col = self.cols.get(name)
        return col if col is not None else np.full(len(self.lines), None, dtype=object)


_LEADING_SPACE = re.compile(r"\x00\s")


def _needs_strip(col: np.ndarray) -> bool:
    """Whether a value of the column starts or ends with whitespace (``str.isspace``: ``\\s``):
    two scans of the joined column, forwards and reversed, instead of a Python loop over
    the values (a value holding NUL may answer yes needlessly; stripping then changes nothing)."""
    joined = "\x00" + "\x00".join(col) + "\x00"
    return bool(_LEADING_SPACE.search(joined) or _LEADING_SPACE.search(joined[::-1]))


def round6(x: np.ndarray) -> np.ndarray:
    """Python's ``round(v, 6)`` of every element: numpy's where that is the same value (not
    within a hair of a tie: the division of an exact integer by 1e6 is correctly rounded)."""
    scaled = x * 1e6
    out = np.rint(scaled) / 1e6
    frac = np.abs(scaled - np.floor(scaled) - 0.5)
    for i in np.flatnonzero(frac < 1e-6):
        out[i] = round(float(x[i]), 6)
    return out


def _prepared(path: Path) -> tuple[str, str, list[str]] | None:
    """The decoded text, encoding and header of a file pandas' C parser can read as it is, or
    ``None`` (no header, ragged header, bare CR line breaks: the row path's reader takes it)."""
    textdata, enc = decode_bytes(Path(path).read_bytes(), path=str(path))
    reader = csv.reader(io.StringIO(textdata, newline=""))
    header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
    if not header:
        return None
    if reader.line_num != 1 or textdata.count("\r") != textdata.count("\r\n"):
        return None
    return textdata, enc, header


def _pandas_reader(utf8: Any, header: list[str], chunk_rows: int | None) -> Any:
    """pandas' C parser over a binary file of UTF-8 (far faster than over text)."""
    return pd.read_csv(
        utf8,
        encoding="utf-8",
        dtype=object,
        header=None,
        skiprows=1,
        names=list(range(len(header))),
        na_filter=False,
        skip_blank_lines=False,
        index_col=False,
        chunksize=chunk_rows,
    )


def _frame_columns(
    df: pd.DataFrame, header: list[str], enc: str, first_line: int
) -> tuple[Columns, int]:
    """The columns of a parsed frame whose first row starts at file line ``first_line``; also
    returns the line the row after its last starts at (quoted line breaks counted)."""
    raw = [df[i].to_numpy(dtype=object) for i in range(len(header))]
    breaks = np.zeros(len(df), dtype=np.int64)
    for col in raw:
        if "\n" in "\x00".join(col):
            breaks += np.fromiter((v.count("\n") for v in col), np.int64, len(col))
    before = np.concatenate([[0], np.cumsum(breaks)[:-1]]) if len(df) else breaks
    lines = first_line + np.arange(len(df), dtype=np.int64) + before
    raw = [np.array([v.strip() for v in c], dtype=object) if _needs_strip(c) else c for c in raw]
    keep = ~np.logical_and.reduce([c == "" for c in raw]) if raw else np.zeros(0, bool)
    cols = {h: raw[i][keep] for i, h in enumerate(header)}
    nxt = first_line + len(df) + int(breaks.sum())
    return Columns(header=header, lines=lines[keep], cols=cols, encoding=enc), nxt


def read_columns(path: Path) -> Columns:
    """Read a CSV (any encoding) as columns with the row path's rules (:func:`read_csv_rows`):
    values stripped, empty rows skipped, line numbers of the file. pandas' C parser does the
    reading; files it cannot take as they are (ragged rows, bare CR line breaks, a header over
    several lines) go through the row path's reader instead."""
    prep = _prepared(path)
    if prep is None:
        return _columns_from_rows(path)
    textdata, enc, header = prep
    try:
        df = _pandas_reader(io.BytesIO(textdata.encode("utf-8")), header, None)
    except (pd.errors.ParserError, ValueError):
        return _columns_from_rows(path)
    del textdata
    return _frame_columns(df, header, enc, 2)[0]


def _columns_from_rows(path: Path) -> Columns:
    header, rows, enc = read_csv_rows(path)
    lines = np.array([n for n, _ in rows], dtype=np.int64)
    cols = {
        h: np.array([r.get(h, "") for _, r in rows], dtype=object) for h in dict.fromkeys(header)
    }
    return Columns(header=header, lines=lines, cols=cols, encoding=enc)


# --- the row path's rules, column-wise --------------------------------------------------------


def _truthy(a: np.ndarray) -> np.ndarray:
    """``bool(v)`` of every element of a column of ``str`` / ``None``."""
    return np.not_equal(a, "") & ~np.equal(a, None)  # type: ignore[call-overload]


def _or(*arrays: np.ndarray | None) -> np.ndarray:
    """Python's ``a or b or c`` element-wise (``None`` stands for a constant ``None``)."""
    n = next(len(a) for a in arrays if a is not None)
    out = arrays[-1] if arrays[-1] is not None else np.full(n, None, dtype=object)
    for a in reversed(arrays[:-1]):
        if a is not None and not (a.dtype == object and a.size and a[0] is None and _all_none(a)):
            out = np.where(_truthy(a), a, out)
    return out


def _is_none(a: np.ndarray) -> np.ndarray:
    return np.equal(a, None)  # type: ignore[call-overload]


def _all_none(a: np.ndarray) -> bool:
    return bool(np.equal(a, None).all())  # type: ignore[call-overload]


def _umap(f: Callable[[Any], Any], a: np.ndarray) -> np.ndarray:
    """``f`` of every element, calling it once per distinct value."""
    codes, uniq = pd.factorize(a, use_na_sentinel=False)
    vals = np.empty(len(uniq), dtype=object)
    for i, u in enumerate(uniq):
        vals[i] = f(u)
    return vals[codes]


def parse_floats(a: np.ndarray) -> np.ndarray:
    """:func:`parse_float` of every element as a float array (NaN for ``None``): ``float()`` in
    numpy's C loop where a value is a plain number, ``parse_float`` itself for the rest."""
    num = pd.to_numeric(pd.Series(a, dtype=object), errors="coerce").to_numpy(dtype=float)
    plain = ~np.isnan(num)
    out = np.full(len(a), np.nan)
    try:
        out[plain] = a[plain].astype(float)
    except (TypeError, ValueError):
        plain[:] = False
    for i in np.flatnonzero(~plain):
        v = parse_float(a[i])
        out[i] = np.nan if v is None else v
    out[~np.isfinite(out)] = np.nan  # parse_float: not finite -> None
    return out


def _floats(a: np.ndarray) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in a], dtype=float)


def _resolution(v: str | None) -> int | None:
    pixels = parse_float(v) if v else None
    if pixels and pixels < 10_000:
        return int(pixels * 10_000)
    return int(pixels) if pixels else None


def _count(v: str | None) -> int | None:
    return parse_int(v) if v else 1


def placeholders(
    t: Columns, la: np.ndarray, lo: np.ndarray, ok: np.ndarray
) -> tuple[dict[int, str], dict[str, list[int]]]:
    """:func:`geo.load.cameras.kr_placeholders` as group-bys: ({row index: reason},
    {agency: [lines]}). ``ok`` marks rows whose coordinates pass :func:`check_wgs84`."""
    idx = np.flatnonzero(ok)
    addr = _or(t.get("소재지도로명주소"), t.get("소재지지번주소"), np.full(len(t), "", object))
    df = pd.DataFrame(
        {
            "i": idx,
            "klat": round6(la[idx]),
            "klon": round6(lo[idx]),
        }
    )
    size = df.groupby(["klat", "klon"], sort=False)["i"].transform("size").to_numpy()
    big = df[size >= rowpath.PLACEHOLDER_MIN_ROWS].copy()
    big["addr"] = np.where(addr[big["i"]] == "", None, addr[big["i"]])  # type: ignore[call-overload]
    g = big.groupby(["klat", "klon"], sort=False)
    big["size"] = g["i"].transform("size")
    big["naddr"] = g["addr"].transform("nunique")
    big = big[big["naddr"] >= rowpath.PLACEHOLDER_MIN_ADDRESSES]
    out: dict[int, str] = {}
    for i, kl, ko, sz, na in big[["i", "klat", "klon", "size", "naddr"]].itertuples(index=False):
        out[int(i)] = (
            f"placeholder coordinate: {sz} rows with {na} different addresses share {kl:g}, {ko:g}"
        )
    rest = np.setdiff1d(idx, big["i"].to_numpy(), assume_unique=True)
    agency = _or(t.get("관리기관명"), np.full(len(t), "", object))[rest]
    la, lo = la[rest], lo[rest]
    a = pd.DataFrame({"agency": agency, "lat": la, "lon": lo})
    ga = a.groupby("agency", sort=False)
    n_ag = ga["lat"].transform("size").to_numpy()
    mlat = ga["lat"].transform("median").to_numpy()
    mlon = ga["lon"].transform("median").to_numpy()
    dy = (la - mlat) * 111.2
    dx = (lo - mlon) * 111.2 * np.cos(np.radians((la + mlat) / 2))
    d = np.hypot(dx, dy)
    far = (n_ag >= 10) & (d > rowpath.FAR_FROM_AGENCY_KM)
    lat_s = _or(t.get("WGS84위도"), t.get("위도"), np.full(len(t), "", object))
    lon_s = _or(t.get("WGS84경도"), t.get("경도"), np.full(len(t), "", object))
    suspects: dict[str, list[int]] = {}
    for j in np.flatnonzero(far):
        i = int(rest[j])
        if rowpath._round_text(lat_s[i]) and rowpath._round_text(lon_s[i]):
            out[i] = f"placeholder coordinate: round value {d[j]:.0f} km from {agency[j]}'s cameras"
        else:
            suspects.setdefault(agency[j], []).append(int(t.lines[i]))
    return out, suspects


def _rejects_at(
    t: Columns, mask: np.ndarray, reason: Callable[[int], tuple[str, str, str | None]]
) -> dict[int, Reject]:
    return {int(i): Reject(int(t.lines[i]), *reason(int(i))) for i in np.flatnonzero(mask)}


def parse_standard(t: Columns, report: LoadReport) -> tuple[pd.DataFrame, np.ndarray]:
    """The camera rows of a standard-data file (one per accepted row), rejects and warnings into
    ``report``: the rules, reasons and order of :func:`geo.load.cameras.parse_cameras`.
    Returns the rows and the mask of the file rows they come from."""
    return finish_standard(t, derive_standard(t), report)


#: The per-row values of :func:`derive_standard`, by name (numpy arrays, one element per row).
Derived = dict[str, Any]


def derive_standard(t: Columns) -> Derived:
    """What :func:`parse_standard` decides row by row (values, and the rules of one row: bad
    coordinates, count, date, ranges): the same for a chunk of a file as for the whole file.
    ``ok_rows`` marks the rows these rules accept; the whole-file rules (placeholders, duplicate
    ids) are :func:`finish_standard`'s. Chunks join with :func:`concat_derived`."""
    n = len(t)
    get = t.get
    d: Derived = {}
    d["la"] = la = parse_floats(_or(get("WGS84위도"), get("위도")))
    d["lo"] = lo = parse_floats(_or(get("WGS84경도"), get("경도")))
    with np.errstate(invalid="ignore"):
        ok = ~np.isnan(la) & ~np.isnan(lo) & (la != 0) & (lo != 0)
        ok &= (np.abs(la) <= 90) & (np.abs(lo) <= 180)
    d["ok"] = ok
    d["count"] = count = _umap(_count, get("카메라대수"))
    d["count_bad"] = np.fromiter((c is None or c < 0 for c in count), bool, n)
    installed = _or(get("설치연월"), get("설치년월"), np.full(n, "", object))
    d["month"] = month = _umap(lambda v: rowpath._parse_month(v) if v else None, installed)
    d["month_bad"] = _truthy(installed) & np.fromiter((m is None for m in month), bool, n)
    direction = _umap(
        lambda v: rowpath._kr_heading(v if v is not None else ""), get("촬영방면정보")
    )
    d["heading"] = heading = np.array([h for h, _ in direction], dtype=object)
    d["fov"] = fov = np.array([f for _, f in direction], dtype=object)
    hf, ff = _floats(heading), _floats(fov)
    with np.errstate(invalid="ignore"):  # _validate_ranges, on the rows it could refuse
        odd = ((hf < 0) | (hf >= 360)) | ((ff <= 0) | (ff > 360))
    d["ranges"] = ranges = np.full(n, None, dtype=object)  # (a Reject where refused)
    for k in np.flatnonzero(odd).tolist():
        row = {"heading_deg": heading[k], "fov_deg": fov[k], "range_m": None}
        ranges[k] = rowpath._validate_ranges(int(t.lines[k]), row)
    d["agency"] = agency = _or(get("관리기관명"), None)
    num = _or(get("관리번호"), get("번호"))
    ext = np.array(
        [f"{a}:{m}" if m else "" for a, m in zip(agency, num, strict=True)], dtype=object
    )
    for k in np.flatnonzero(~_truthy(num)).tolist():
        ext[k] = rowpath._row_id(_row_dict(t, k))
    d["ext"] = ext
    d["name"] = _or(get("소재지도로명주소"), get("소재지지번주소"), None)
    d["purpose"] = _umap(
        lambda v: rowpath.KR_PURPOSE.get((v or "").strip(), "other"), get("설치목적구분")
    )
    d["resolution"] = _umap(_resolution, get("카메라화소수"))
    d["retention"] = _umap(lambda v: parse_int(v) if v else None, get("보관일수"))
    d["ok_rows"] = ok_rows = ok & ~d["count_bad"] & ~d["month_bad"] & _is_none(ranges)
    geom = np.full(n, None, dtype=object)
    dec = np.full(n, None, dtype=object)
    for k, x, y in zip(np.flatnonzero(ok_rows).tolist(), lo[ok_rows], la[ok_rows], strict=True):
        geom[k] = g = f"POINT({x:.8f} {y:.8f})"
        dec[k] = _wkt_decimals(g)
    d["geom"], d["coord_decimals"] = geom, dec
    d["kinds"] = _umap(lambda v: rowpath.kr_direction(v)[2], get("촬영방면정보"))
    return d


def concat_derived(parts: list[Derived]) -> Derived:
    """One :data:`Derived` of consecutive chunks (row indexes follow on)."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def standard_rows(d: Derived, idx: np.ndarray) -> pd.DataFrame:
    """The camera rows (the columns :mod:`geo.load.bulk` stages) of the rows ``idx`` (a mask or
    indexes of rows :func:`derive_standard` accepted)."""
    name = d["name"][idx]
    return pd.DataFrame(
        {
            "external_id": d["ext"][idx],
            "name": name,
            "purpose": d["purpose"][idx],
            "agency": d["agency"][idx],
            "address": name,
            "geom": d["geom"][idx],
            "heading_deg": d["heading"][idx],
            "fov_deg": d["fov"][idx],
            "camera_count": np.array([max(1, c) for c in d["count"][idx]], dtype=object),
            "resolution_px": d["resolution"][idx],
            "retention_days": d["retention"][idx],
            "installed_on": d["month"][idx],
            "coord_decimals": d["coord_decimals"][idx].astype(np.int64),
        }
    )


def finish_standard(t: Columns, d: Derived, report: LoadReport) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`parse_standard` from the whole file's :func:`derive_standard`: the whole-file rules
    (placeholders, suspect locations, duplicate ids and repeats), rejects in file order and the
    warnings. Returns the rows and the mask of the file rows they come from."""
    n = len(t)
    get = t.get
    la, lo, ok = d["la"], d["lo"], d["ok"]
    ph, suspects = placeholders(t, la, lo, ok)
    rowpath._kr_suspect_warnings(report, suspects)  # the row path's words, exactly
    rej: dict[int, Reject] = {}
    lat_v, lon_v = _or(get("위도"), get("WGS84위도")), _or(get("경도"), get("WGS84경도"))
    lat_w, lon_w = _or(get("WGS84위도"), get("위도")), _or(get("WGS84경도"), get("경도"))
    addr = _or(get("소재지도로명주소"), get("소재지지번주소"), np.full(n, "", object))
    for i, why in ph.items():
        value = f"{lat_w[i]},{lon_w[i]} {addr[i]}".strip()
        rej[i] = Reject(int(t.lines[i]), why, "WGS84위도/WGS84경도", value)
    free = np.ones(n, bool)
    free[list(ph)] = False

    def bad_coords(i: int) -> tuple[str, str, str | None]:
        why = check_wgs84(parse_float(lat_w[i]), parse_float(lon_w[i]))
        return str(why), "위도/경도", f"{lat_v[i]},{lon_v[i]}"

    rej |= _rejects_at(t, free & ~ok, bad_coords)
    free &= ok
    cnt_s = get("카메라대수")
    bad = free & d["count_bad"]
    rej |= _rejects_at(
        t, bad, lambda i: ("camera count is not a whole number", "카메라대수", cnt_s[i])
    )
    free &= ~bad
    installed = _or(get("설치연월"), get("설치년월"), np.full(n, "", object))
    bad = free & d["month_bad"]
    rej |= _rejects_at(
        t, bad, lambda i: ("unparseable installation date", "설치연월", installed[i])
    )
    free &= ~bad
    ranges = d["ranges"]
    for k in np.flatnonzero(free & ~_is_none(ranges)).tolist():
        rej[k], free[k] = ranges[k], False
    keep = _dedupe(t, d["ext"], free, rej, report)
    report.rows_read = n
    report.rejects.extend(rej[i] for i in sorted(rej))
    out = standard_rows(d, keep)
    _summary(t, report, d["count"], out, ph, d["kinds"])
    return out, keep


def _wkt_decimals(wkt: str) -> int:
    """``geo.load.unify.source_record``'s ``coord_decimals`` of a ``POINT(x y)`` with 8 decimals
    (the shortest repr of such a float is the text without its trailing zeros)."""
    x, y = wkt[6:-1].split()
    return min(len(x.split(".")[1].rstrip("0")), len(y.split(".")[1].rstrip("0")))


def _row_dict(t: Columns, i: int) -> dict[str, str]:
    return {h: t.cols[h][i] for h in t.header}


def _dedupe(
    t: Columns, ext: np.ndarray, free: np.ndarray, rej: dict[int, Reject], report: LoadReport
) -> np.ndarray:
    """The rows to load: the first of each id; a later exact repeat is a warning, a later row
    with the same id and other values a reject (as :func:`parse_cameras` decides)."""
    idx = np.flatnonzero(free)
    dup = pd.Series(ext[idx]).duplicated(keep="first").to_numpy()
    keep = free.copy()
    if not dup.any():
        return keep
    twice = set(ext[idx[dup]])
    first: dict[str, int] = {}
    for i in idx[~dup & pd.Series(ext[idx]).isin(twice).to_numpy()]:
        first.setdefault(ext[i], int(i))
    names = list(dict.fromkeys(t.header))
    for i in idx[dup]:
        j = first[ext[i]]
        keep[i] = False
        if all(t.cols[h][i] == t.cols[h][j] for h in names):
            report.warnings.append(
                f"row {t.lines[i]} repeats row {t.lines[j]} exactly; loaded once"
            )
        else:
            why = f"duplicate id {ext[i]} (first at row {t.lines[j]}) with different values"
            rej[int(i)] = Reject(int(t.lines[i]), why, "id", ext[i])
    return keep


def _summary(
    t: Columns,
    report: LoadReport,
    count: np.ndarray,
    out: pd.DataFrame,
    ph: dict[int, str],
    kinds: np.ndarray,
) -> None:
    """:func:`geo.load.cameras._kr_summary` from the columns."""
    cams = np.array([max(1, c or 1) for c in count], dtype=np.int64)
    ph_idx = np.array(sorted(ph), dtype=np.int64)
    report.warnings.append(
        f"{len(t)} rows = {int(cams.sum())} cameras (카메라대수); one row per site with "
        f"camera_count = 카메라대수; loaded {len(out)} rows = {int(out['camera_count'].sum())} "
        f"cameras; {len(ph_idx)} rows = {int(cams[ph_idx].sum())} cameras at placeholder "
        "coordinates not loaded"
    )
    counts = pd.Series(kinds).value_counts()
    report.warnings.append(
        "촬영방면정보: "
        + ", ".join(
            f"{k} {int(counts.get(k, 0))}"
            for k in ("all-round", "degrees", "compass", "text", "empty")
        )
        + " (only all-round, degrees and compass words are used as a view; text stays in raw)"
    )
