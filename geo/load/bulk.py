"""National-scale camera loads: a standard-data CSV of a million rows through ``COPY``.

The file is read and checked column-wise by :mod:`geo.load.standard` (the row loader's rules,
rejects and warnings, exactly); the accepted rows go by ``COPY`` into a temporary staging table,
then into ``cameras`` with one ``INSERT ... ON CONFLICT (source, external_id) DO UPDATE ... WHERE
<a value differs>``, and into this source's ``camera_sources`` records likewise. Reloading the
same file changes nothing; when the last committed camera load was this very file (SHA-256) and
all its records are still there, the rows are still read and checked (every bad row reported) but
nothing is staged or compared (comparing a million unchanged rows costs about 48 s of database
time). A cameras row merged with other sources' records (:mod:`geo.load.unify`) is left to the
merge; new records are not matched against other sources here (the merge regroups every record
in Python, which does not fit a million-row load). A first load of the source (no camera or
record of it stored) has nothing to compare: each staged row takes its camera id while it is
copied, and two plain ``INSERT ... SELECT`` write the cameras and their records (for a load that
at least doubles the table, with the secondary indexes and the records' foreign key dropped and
built again after; from 100k rows the records are built on a second connection meanwhile,
:func:`geo.load.bulk_parallel.insert_fresh_parallel`). One camera load runs at a time (the row path's advisory lock).

Derived data: field-of-view polygons (``camera_views``) cost about 75 us per camera in
:func:`geo.views.compute_views`, more than the whole load at a million cameras, so
:func:`load_cameras_bulk` can leave them to :func:`refresh_missing_views` (the CLI runs it after
the load commits, in chunks of their own transactions; views of updated cameras are deleted with
the update, so "cameras without a view" is the whole to-do list). ``camera_edges`` are refreshed
lazily by the routing engine whenever the load counter moved (:mod:`geo.camera_edges`).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.load import cameras as rowpath
from geo.load.bulk_sql import (  # noqa: F401 (bulk_parallel and bulk_pipeline use bulk._x)
    _CAMERA_COLS,
    _LOAD_LOCK,
    _STAGE_COLS,
    REINDEX_MIN_NEW,
    _camera_select,
    _drop_foreign_keys,
    _drop_secondary_indexes,
    _exec,
    _record_fields,
    _source_stored,
    _stage,
    _upsert_sql,
    _write_records,
)
from geo.load.common import LoadReport, record_load, sha256_file
from geo.load.standard import SOURCE, Columns, parse_standard, read_columns

BULK_SUFFIXES = (".csv", ".txt")


def _insert_fresh(
    cur: Any,
    names: list[str],
    *,
    tm: dict[str, float],
    stage: str = "_camera_stage",
    records_from: Callable[[], str] | None = None,
) -> tuple[int, str]:
    """A first load of the source: plain inserts of the staged rows (ids from the stage) into
    ``cameras`` and their records; no row can conflict. Returns (rows, the changed-ids SQL).
    ``records_from`` (:func:`geo.load.bulk_parallel.insert_fresh_parallel`) waits for a table of the records, built
    on another connection meanwhile, and names it."""
    cur.execute(f"select count(*) from {stage}")
    n = int(cur.fetchone()[0])
    cur.execute("select count(*) from cameras")
    tables = ("cameras", "camera_sources")
    rebuild: dict[str, list[str]] = {table: [] for table in tables}
    if n >= max(REINDEX_MIN_NEW, int(cur.fetchone()[0])):
        fks = _drop_foreign_keys(cur, "camera_sources")
        rebuild = {table: _drop_secondary_indexes(cur, table) for table in tables}
        rebuild["camera_sources"] += fks
    cols = ", ".join(_CAMERA_COLS)
    _exec(
        cur,
        tm,
        "cameras_s",
        f"insert into cameras (id, {cols}) select s.id, {_camera_select()} from {stage} s",
    )
    for ddl in rebuild["cameras"]:  # (while the records are built on the other connection)
        _exec(cur, tm, "rebuild_s", ddl)
    rcols = "camera_id, source, external_id, fields, geom, coord_decimals"
    if records_from is not None:
        t0 = time.perf_counter()
        recs = records_from()
        tm["records_wait_s"] = time.perf_counter() - t0
        _exec(
            cur,
            tm,
            "records_s",
            f"insert into camera_sources ({rcols}) select {rcols} from {recs}",
        )
    else:
        obj, params = _record_fields(names)
        _exec(
            cur,
            tm,
            "records_s",
            f"""insert into camera_sources ({rcols})
                select s.id, '{SOURCE}', s.external_id, {obj}, st_geomfromtext(s.geom, 4326),
                       s.coord_decimals
                from {stage} s""",
            params,
        )
    for ddl in rebuild["camera_sources"]:
        _exec(cur, tm, "rebuild_s", ddl)
    if n >= REINDEX_MIN_NEW:
        for table in tables:
            _exec(cur, tm, "analyze_s", f"analyze {table}")
    return n, f"select id from {stage} order by id"


#: A first load of at least this many rows (with records) uses a second connection, the
#: machine's other core: it builds the records' JSON while this one inserts the cameras and
#: rebuilds their indexes (:func:`geo.load.bulk_parallel.insert_fresh_parallel`).
PARALLEL_MIN_ROWS = 100_000


def copy_upsert(
    session: Session,
    *,
    t: Columns,
    rows: pd.DataFrame,
    keep: np.ndarray,
    want_ids: bool,
    timings: dict[str, float] | None = None,
) -> tuple[int, int, list[int], int]:
    """COPY ``rows`` (and the raw values of their file rows) into a staging table, then one
    ``INSERT ... ON CONFLICT DO UPDATE ... WHERE <differs>`` into ``cameras``. Views of updated
    cameras are deleted (stale); this source's ``camera_sources`` records are upserted too, and
    cameras rows merged with other sources' records are left alone. A first load of the source
    (no camera or record of it stored) inserts instead: nothing to compare. Returns (inserted,
    updated, ids of changed cameras when ``want_ids``, rows belonging to merged cameras);
    ``timings`` gets the seconds of each statement kind."""
    names = list(dict.fromkeys(t.header))
    tm = timings if timings is not None else {}
    conn: Any = session.connection().connection.dbapi_connection
    assert conn is not None
    with conn.cursor() as cur:
        # one big transaction: no wait for the WAL flush at commit (a crash loses the load, never
        # half of it), no JIT compilation of the wide statements, room for the index builds
        cur.execute("set local synchronous_commit = off")
        cur.execute("set local jit = off")
        cur.execute("set local maintenance_work_mem = '512MB'")
        cur.execute("select pg_advisory_xact_lock(%s)", (_LOAD_LOCK,))
        fresh = not _source_stored(cur)
        cur.execute("show transaction_isolation")  # (later snapshots see the scratch tables)
        committed_reads = cur.fetchone()[0] == "read committed"
        if fresh and len(rows) >= PARALLEL_MIN_ROWS and committed_reads:
            data = (t, rows, keep)
            from geo.load.bulk_parallel import insert_fresh_parallel

            n, new_ids = insert_fresh_parallel(conn, cur, data, names, tm, want_ids=want_ids)
            return n, 0, new_ids, 0
        _stage(cur, t, rows, keep, names, fresh=fresh, tm=tm)
        if fresh:
            ins, ids_sql = _insert_fresh(cur, names, tm=tm)
            upd, merged = 0, 0
        else:
            ins, upd, merged = _upsert(cur, names, tm=tm)
            ids_sql = "select id from _camera_changed order by id"
        ids: list[int] = []
        if want_ids:
            cur.execute(ids_sql)
            ids = [r[0] for r in cur.fetchall()]
        cur.execute("drop table if exists _camera_changed")
        cur.execute("drop table _camera_stage")
    return int(ins), int(upd), ids, merged


def _upsert(cur: Any, names: list[str], *, tm: dict[str, float]) -> tuple[int, int, int]:
    """Upsert the staged rows into ``cameras`` and their records (a source already stored).
    Returns (inserted, updated, rows belonging to merged cameras)."""
    cur.execute(
        """select (select count(*) from _camera_stage s where not exists (
                     select 1 from cameras c
                     where c.source = %s and c.external_id = s.external_id)),
                  (select count(*) from cameras)""",
        (SOURCE,),
    )
    new, have = cur.fetchone()
    tables = ("cameras", "camera_sources")
    rebuild: list[str] = []
    if new >= max(REINDEX_MIN_NEW, have - new):  # (the records' key too: one join, not 1M)
        fks = _drop_foreign_keys(cur, "camera_sources")
        rebuild = [d for table in tables for d in _drop_secondary_indexes(cur, table)] + fks
    _exec(cur, tm, "cameras_s", _upsert_sql())
    if rebuild:  # the records find their new cameras by key: a plan for a million of them
        _exec(cur, tm, "analyze_s", "analyze cameras")
    merged = _write_records(cur, names, tm)
    for ddl in rebuild:
        _exec(cur, tm, "rebuild_s", ddl)
    cur.execute(
        "select count(*) filter (where ins), count(*) filter (where not ins) from _camera_changed"
    )
    ins, upd = cur.fetchone()
    if ins + upd >= REINDEX_MIN_NEW:
        for table in tables:
            _exec(cur, tm, "analyze_s", f"analyze {table}")
    return int(ins), int(upd), merged


def bulk_eligible(path: Path, fmt: str | None = None) -> bool:
    """Whether :func:`load_cameras_bulk` takes this file: a standard-data CSV."""
    path = Path(path)
    if fmt not in (None, SOURCE) or path.suffix.lower() not in BULK_SUFFIXES:
        return False
    if fmt == SOURCE:
        return True
    header, _, _ = _peek_header(path)
    return rowpath.detect_camera_format(path, header) == SOURCE if header else False


def _peek_header(path: Path) -> tuple[list[str], None, None]:
    with open(path, "rb") as f:
        first = f.readline()
    for enc in ("utf-8-sig", "cp949"):
        try:
            line = first.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        return [], None, None
    return [h.strip().lstrip("\ufeff") for h in next(csv.reader([line]), [])], None, None


def _same_as_last_load(session: Session, *, sha256: str, ids: list[str]) -> bool:
    """Whether the last committed camera load (any source) was this very file and every one of
    its rows (``ids``) still has its record: then loading it again would change nothing (no
    other camera load ran since; a table emptied since fails the count). Rows edited outside
    the loaders since that load are not put back."""
    last = session.execute(
        text("""select fmt, sha256 from data_loads where kind = 'cameras'
                order by id desc limit 1""")
    ).first()
    if last is None or (last.fmt, last.sha256) != (SOURCE, sha256):
        return False
    if session.execute(text("select to_regclass('camera_sources') is null")).scalar_one():
        return False
    stored = text("""select count(*) from camera_sources
                     where source = :s and camera_id is not null""")
    if session.execute(stored, {"s": SOURCE}).scalar_one() < len(ids):
        return False  # (a cheap answer for an emptied table: no array of ids shipped)
    n = session.execute(
        text("""select count(*) from camera_sources
                where source = :s and external_id = any(:ids) and camera_id is not null"""),
        {"s": SOURCE, "ids": ids},
    ).scalar_one()
    return int(n) == len(ids)


def load_cameras_bulk(
    session: Session,
    *,
    path: Path | str,
    fmt: str | None = None,
    refresh_views: bool = True,
    timings: dict[str, float] | None = None,
) -> LoadReport:
    """Load a national standard-data CSV in the caller's transaction through ``COPY``.

    Same rows, rejects (line, reason, field, value), warnings and idempotence as
    :func:`geo.load.cameras.load_cameras`; files of other layouts go to that loader. With
    ``refresh_views=False`` the views of changed cameras are left to :func:`refresh_missing_views`.
    ``timings`` (seconds by stage) is filled when given.
    """
    path = Path(path)
    if not bulk_eligible(path, fmt):
        return rowpath.load_cameras(session, path=path, fmt=fmt, refresh_views=refresh_views)
    tm = timings if timings is not None else {}
    from geo.load.bulk_pipeline import first_load

    if (got := first_load(session, path=path, tm=tm, want_ids=refresh_views)) is not None:
        report, n, ids = got  # a first load of a large file: written while it was read
        return _finish_load(session, report, (n, 0, ids, 0), n, tm, refresh_views=refresh_views)
    t0 = time.perf_counter()
    cols = read_columns(path)
    tm["read_s"] = time.perf_counter() - t0
    report = LoadReport(
        kind="cameras", fmt=SOURCE, path=str(path.resolve()), encoding=cols.encoding
    )
    t0 = time.perf_counter()
    rows, keep = parse_standard(cols, report)
    report.sha256 = sha256_file(path)
    tm["validate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if _same_as_last_load(session, sha256=report.sha256, ids=rows["external_id"].tolist()):
        report.unchanged = len(rows)
        report.warnings.append(
            "the same file (SHA-256) as the last camera load, whose records are all still "
            "stored: nothing written (rows checked and rejects reported as ever)"
        )
        tm["copy_upsert_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        record_load(session, report)
        tm["views_record_s"] = time.perf_counter() - t0
        return report
    done = copy_upsert(session, t=cols, rows=rows, keep=keep, want_ids=refresh_views, timings=tm)
    tm["copy_upsert_s"] = time.perf_counter() - t0
    return _finish_load(session, report, done, len(rows), tm, refresh_views=refresh_views)


def _other_sources_stored(session: Session) -> bool:
    """Whether another source's records that this file's cameras may merge with are stored."""
    from geo.load.merge import MERGE_SOURCES

    others = [m for m in MERGE_SOURCES if m != SOURCE]
    return bool(
        session.execute(
            text("select exists (select 1 from camera_sources where source = any(:s))"),
            {"s": others},
        ).scalar_one()
    )


def _merge_new_records(session: Session, report: LoadReport) -> list[int]:
    """The row loader's merge (:func:`geo.load.unify.reconcile`) after a COPY that inserted
    records while other sources' records are stored: a new record of a camera another file
    already holds joins that camera (its fresh row is merged away), so the COPY path never
    leaves two rows for one camera. Only the records it can regroup are read into Python
    (:func:`geo.load.merge_scope.merge_touched`). Returns the camera ids written, whose views
    are stale; the merge summary and report paths go to ``report.notes`` as the row loader's
    do."""
    from geo.load.merge_scope import merge_touched

    session.execute(text("analyze camera_sources"))
    written = merge_touched(session, report=report, sources=[SOURCE])
    if written:  # views of rows the merge moved or rewrote are recomputed like any other
        session.execute(
            text("delete from camera_views where camera_id = any(:ids)"), {"ids": written}
        )
    return written


def _finish_load(
    session: Session,
    report: LoadReport,
    done: tuple[int, int, list[int], int],
    n_rows: int,
    tm: dict[str, float],
    *,
    refresh_views: bool,
) -> LoadReport:
    """Counts, warnings and views of a written load (``done``: :func:`copy_upsert`'s answer),
    then its ``data_loads`` row."""
    ins, upd, ids, merged = done
    if merged:
        report.warnings.append(
            f"{merged} rows are records of cameras merged with other sources (geo.load.unify): "
            "their records were updated, the merged camera rows left to the merge"
        )
    report.inserted, report.updated = ins, upd
    report.unchanged = n_rows - ins - upd
    t0 = time.perf_counter()
    if ins and _other_sources_stored(session):
        ids = sorted(set(ids) | set(_merge_new_records(session, report)))
    if refresh_views and ids:
        from geo.views import refresh_camera_views

        refresh_camera_views(session, camera_ids=ids)
    elif ins or upd:
        report.warnings.append(
            f"fields of view of {ins + upd} changed cameras are computed after this load "
            "commits (geo.load.bulk.refresh_missing_views)"
        )
    record_load(session, report)
    tm["views_record_s"] = time.perf_counter() - t0
    return report


def missing_views(session: Session) -> int:
    """How many cameras have no stored field of view."""
    return int(
        session.execute(
            text("""select count(*) from cameras c
                    where not exists (select 1 from camera_views v where v.camera_id = c.id)""")
        ).scalar_one()
    )


def refresh_missing_views(session: Session, *, limit: int = 20_000) -> int:
    """Compute the views (:func:`geo.views.refresh_camera_views`) of up to ``limit`` cameras that
    have none; returns how many. Call repeatedly, committing in between, until it returns 0."""
    from geo.views import refresh_camera_views

    ids = (
        session.execute(
            text("""select c.id from cameras c
                    where not exists (select 1 from camera_views v where v.camera_id = c.id)
                    order by c.id limit :n"""),
            {"n": limit},
        )
        .scalars()
        .all()
    )
    if not ids:
        return 0
    refresh_camera_views(session, camera_ids=list(ids))
    return len(ids)


def load_national(
    path: Path | str,
    *,
    fmt: str | None = None,
    url: str | None = None,
    progress: bool = False,
    on_loaded: Callable[[LoadReport], None] | None = None,
) -> LoadReport:
    """What ``goldentime load cameras`` runs for a standard-data CSV: the load in one transaction
    (:func:`load_cameras_bulk`), then the fields of view of every camera lacking one, in chunks
    of their own transactions (interrupted, the next run of the same load finishes them).
    ``on_loaded`` sees the report as soon as the load has committed."""
    from tqdm import tqdm

    from geo.db import session_scope

    with session_scope(url) as s:
        report = load_cameras_bulk(s, path=path, fmt=fmt, refresh_views=False)
    if on_loaded is not None:
        on_loaded(report)
    with session_scope(url) as s:
        todo = missing_views(s)
    with tqdm(total=todo, desc="camera views", unit="camera", disable=not progress) as bar:
        while True:
            with session_scope(url) as s:
                done = refresh_missing_views(s)
            if not done:
                break
            bar.update(done)
    return report
