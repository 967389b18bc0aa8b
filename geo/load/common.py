"""What every loader shares: encoding detection, reject reports, load records, upserts."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes
from sqlalchemy import Text, text
from sqlalchemy.orm import Session

from geo.errors import LoadError
from geo.settings import get_settings


@dataclass
class Reject:
    """One input row that could not be used, with where it is and why."""

    row: int
    reason: str
    field: str | None = None
    value: str | None = None


@dataclass
class LoadReport:
    """Outcome of a load: counts, rejects, warnings (what a user should look at), notes (plain
    information: merge summaries, where side reports went) and where the reject report was
    written."""

    kind: str
    fmt: str
    path: str
    sha256: str = ""
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    report_path: str | None = None
    load_id: int | None = None
    encoding: str | None = None

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    def reasons(self) -> dict[str, int]:
        """Reject counts by reason (the reason text before any row-specific detail)."""
        return dict(Counter(r.reason.split(":")[0] for r in self.rejects).most_common())

    def summary(self) -> str:
        lines = [
            f"{self.kind} from {Path(self.path).name} ({self.fmt}"
            + (f", {self.encoding}" if self.encoding else "")
            + "): "
            f"{self.rows_read} rows read, {self.inserted} inserted, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.rejected} rejected"
        ]
        for reason, n in self.reasons().items():
            lines.append(f"  rejected {n:>6} x {reason}")
        lines.extend(f"  {note}" for note in self.notes)
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        if self.report_path:
            lines.append(f"  reject report: {self.report_path}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "fmt": self.fmt,
            "path": self.path,
            "rows_read": self.rows_read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "reasons": self.reasons(),
            "warnings": self.warnings,
            "notes": self.notes,
            "report_path": self.report_path,
            "encoding": self.encoding,
        }


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def decode_bytes(data: bytes, *, path: str = "") -> tuple[str, str]:
    """Decode a text file whose encoding is unknown: UTF-8 (with or without BOM), else CP949.

    Korean public data comes as UTF-8, UTF-8 with BOM, or CP949/EUC-KR; strict decoding tells them
    apart reliably, and charset-normalizer is the fallback for anything else. Returns (text, encoding).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    for enc in ("utf-8", "cp949"):
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    best = from_bytes(data).best()
    if best is None:
        raise LoadError(f"cannot detect the text encoding of {path or 'the file'}", field="file")
    return str(best), best.encoding


def read_csv_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]], str]:
    """Header, rows as (line number, {column: value}) and encoding of a CSV in any encoding.

    Row numbers are the 1-based line numbers of the row in the file (header = line 1), so a
    reject report points at the line a user can open. Fields are whitespace-stripped.
    """
    textdata, enc = decode_bytes(Path(path).read_bytes(), path=str(path))
    reader = csv.reader(io.StringIO(textdata, newline=""))
    try:
        header = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration:
        raise LoadError(f"{path} is empty", field="file") from None
    rows: list[tuple[int, dict[str, str]]] = []
    line = reader.line_num
    for rec in reader:
        start = line + 1
        line = reader.line_num
        if not any(v.strip() for v in rec):
            continue
        rows.append(
            (start, {h: (rec[i].strip() if i < len(rec) else "") for i, h in enumerate(header)})
        )
    return header, rows, enc


def read_xlsx_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]], str]:
    """Header and rows of the first sheet of an Excel file (as users save the public CSVs)."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(it)]
    rows = []
    for i, rec in enumerate(it, start=2):
        if rec is None or all(v is None or str(v).strip() == "" for v in rec):
            continue
        rows.append(
            (
                i,
                {
                    h: ("" if v is None else str(v).strip())
                    for h, v in zip(header, rec, strict=False)
                },
            )
        )
    return header, rows, "xlsx"


def read_table(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]], str]:
    """CSV (any encoding) or XLSX by file extension."""
    if Path(path).suffix.lower() in (".xlsx", ".xlsm"):
        return read_xlsx_rows(path)
    return read_csv_rows(path)


def parse_float(v: str | None) -> float | None:
    if v is None:
        return None
    v = str(v).strip().replace(",", "")
    if not v:
        return None
    try:
        f = float(v)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def parse_int(v: str | None) -> int | None:
    f = parse_float(v)
    return None if f is None or f != int(f) else int(f)


def check_wgs84(lat: float | None, lon: float | None) -> str | None:
    """Reason a WGS84 coordinate is unusable, or ``None`` when it is fine."""
    if lat is None or lon is None:
        return "missing coordinates"
    if lat == 0 or lon == 0:
        return "zero coordinates (no location recorded)"
    if not (-90 <= lat <= 90) or not (-180 <= lon <= 180):
        return f"coordinates out of range: lat {lat}, lon {lon}"
    return None


def write_reject_report(report: LoadReport) -> str | None:
    """Write the rejects as CSV under ``$GOLDENTIME_HOME/rejects`` and return its path."""
    if not report.rejects:
        return None
    folder = get_settings().home / "rejects"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    out = folder / f"{report.kind}-{Path(report.path).stem}-{stamp}.csv"
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["row", "reason", "field", "value"])
        for r in report.rejects:
            w.writerow([r.row, r.reason, r.field or "", r.value or ""])
    return str(out)


def record_load(session: Session, report: LoadReport) -> int:
    """Write the ``data_loads`` row of a finished load (same transaction); returns its id."""
    report.report_path = write_reject_report(report)
    load_id = session.execute(
        text("""insert into data_loads (kind, fmt, path, sha256, rows_read, inserted, updated,
                unchanged, rejected, rejects)
                values (:kind, :fmt, :path, :sha, :rows, :ins, :upd, :unch, :rej, cast(:rejects as jsonb))
                returning id"""),
        {
            "kind": report.kind,
            "fmt": report.fmt,
            "path": report.path,
            "sha": report.sha256,
            "rows": report.rows_read,
            "ins": report.inserted,
            "upd": report.updated,
            "unch": report.unchanged,
            "rej": report.rejected,
            "rejects": json.dumps([r.__dict__ for r in report.rejects[:5000]], ensure_ascii=False),
        },
    ).scalar_one()
    report.load_id = int(load_id)
    return report.load_id


def upsert(
    session: Session,
    *,
    table: str,
    rows: list[dict[str, Any]],
    key: tuple[str, ...],
    geom_col: str = "geom",
    chunk: int = 1000,
) -> tuple[int, int]:
    """Insert or update rows by ``key``; an identical row is left alone. Returns (inserted, updated).

    ``rows`` carry the geometry as WKT in ``geom_col`` (EPSG:4326). Updates happen only where a
    value differs, so re-loading the same file changes nothing (not even ``updated_at``).
    """
    from sqlalchemy import bindparam, func, literal_column, or_
    from sqlalchemy.dialects.postgresql import insert

    from geo.models import Base

    if not rows:
        return 0, 0
    tbl = Base.metadata.tables[table]
    cols = list(rows[0].keys())
    upd_cols = [c for c in cols if c not in key]
    # one statement compiled once and sent as executemany (SQLAlchemy batches it into multi-row
    # VALUES pages): compiling a fresh multi-row statement per chunk cost seconds per 10k rows
    stmt = insert(tbl).values(
        {
            c: (
                func.ST_GeomFromText(bindparam(c, type_=Text()), 4326)
                if c == geom_col
                else bindparam(c, type_=tbl.c[c].type)
            )
            for c in cols
        }
    )
    differ = or_(*[tbl.c[c].is_distinct_from(stmt.excluded[c]) for c in upd_cols])
    upsert_stmt: Any = stmt.on_conflict_do_update(
        index_elements=list(key), set_={c: stmt.excluded[c] for c in upd_cols}, where=differ
    ).returning(literal_column("(xmax = 0)"))
    ins = upd = 0
    for i in range(0, len(rows), chunk):
        for (was_insert,) in session.execute(upsert_stmt, rows[i : i + chunk]).all():
            if was_insert:
                ins += 1
            else:
                upd += 1
    return ins, upd
