"""The first load of a national file as a pipeline: the database writes while Python reads.

A first load of the source (no camera or record of it stored) of a large file reads it in chunks
on a thread (:func:`geo.load.standard.iter_columns`, then
:func:`geo.load.standard.derive_standard`: the rules of one row); a second connection COPYs each
chunk into a committed UNLOGGED scratch table, and the load's transaction inserts the chunk's
cameras and records from it while the next chunks are read and copied: Python, the copying
backend and the inserting backend work at once. The rules that need the whole file (placeholder
coordinates, suspect locations, duplicate ids) run on the reading thread once the last chunk is
read (:func:`geo.load.standard.finish_standard`, what :func:`parse_standard` ends with): rows
they refuse are deleted again, and a row whose earlier twin they refused is inserted from the
rows held back. Rows, rejects and warnings are therefore exactly the serial path's.

Only the load's transaction writes ``cameras`` and ``camera_sources``: a failure anywhere goes
back to a savepoint and the second connection drops its scratch tables (a crash leaves them to
the next load's sweep); a row pandas cannot take sends the file to the serial path. Without read
committed isolation (the scratch tables would stay invisible) this transaction copies the chunks
itself. Measured in docs/benchmarks.md ("The 1M first load").
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from geo.errors import LoadError
from geo.load import bulk
from geo.load.common import LoadReport, sha256_file
from geo.load.standard import (
    SOURCE,
    Columns,
    Derived,
    concat_derived,
    derive_standard,
    finish_standard,
    standard_rows,
)
from geo.load.standard_chunks import NotStreamable, concat_columns, iter_columns

#: Rows per chunk: small enough that the database starts early, large enough that a chunk's
#: statements cost little beside their rows.
CHUNK_ROWS = 100_000
#: Files from this size take the pipeline (about 90k rows of the standard layout).
PIPELINE_MIN_BYTES = 20_000_000
#: Copy the chunks on a second connection (else this transaction copies them itself).
SECOND_CONNECTION = True
#: Called on the reading thread with each chunk's number (tests raise in it).
_reader_hook: Callable[[int], None] | None = None
#: Called on the copying thread with each chunk's number (tests raise in it).
_copy_hook: Callable[[int], None] | None = None
_SAVEPOINT = "camera_pipeline"


@dataclass
class _Chunk:
    t: Columns
    d: Derived
    offset: int  # file row index (of the read rows) of its first row
    rows: pd.DataFrame  # the rows :func:`derive_standard` accepted ...
    at: np.ndarray  # ... their indexes in the chunk
    first: np.ndarray  # ... and whether each is the first of its id so far (inserted at once)
    table: str = ""  # the scratch table it was copied into


@dataclass
class _Done:
    report: LoadReport
    keep: np.ndarray  # the whole-file rules' rows to load
    chunks: list[_Chunk]


class _Pipe:
    """A bounded queue between two threads that gives up when the load stopped."""

    def __init__(self, stop: threading.Event) -> None:
        self.q: queue.Queue[Any] = queue.Queue(maxsize=2)
        self.stop = stop

    def put(self, item: Any) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(queue.Full):
                self.q.put(item, timeout=0.2)
                return

    def get(self) -> Any:
        while not self.stop.is_set():
            with contextlib.suppress(queue.Empty):
                return self.q.get(timeout=0.2)
        return None


def _read(
    stream: Iterator[Columns], out: _Pipe, report: LoadReport, path: Path, tm: dict[str, float]
) -> None:
    """The reading thread: each chunk with the rows one row's rules accept, then the whole
    file's rules (:class:`_Done`), or the exception that stopped it."""
    seen: set[str] = set()
    chunks: list[_Chunk] = []
    offset = 0
    try:
        for i, t in enumerate(_timed(stream, tm)):
            if _reader_hook is not None:
                _reader_hook(i)
            t0 = time.perf_counter()
            d = derive_standard(t)
            at = np.flatnonzero(d["ok_rows"])
            ext = d["ext"][at]
            first = ~pd.Series(ext).duplicated(keep="first").to_numpy()
            first &= np.fromiter((e not in seen for e in ext), bool, len(ext))
            seen.update(ext)
            chunks.append(_Chunk(t, d, offset, standard_rows(d, at), at, first))
            tm["validate_s"] = tm.get("validate_s", 0.0) + time.perf_counter() - t0
            offset += len(t)
            out.put(chunks[-1])
        if not chunks:
            raise NotStreamable("no rows")
        t0 = time.perf_counter()
        t_all = concat_columns([c.t for c in chunks])
        _, keep = finish_standard(t_all, concat_derived([c.d for c in chunks]), report)
        report.sha256 = sha256_file(path)
        tm["finish_s"] = time.perf_counter() - t0
        out.put(_Done(report, keep, chunks))
    except BaseException as e:  # noqa: BLE001 - handed to the loading thread, raised there
        out.put(e)


def _timed(stream: Iterator[Columns], tm: dict[str, float]) -> Iterator[Columns]:
    while True:
        t0 = time.perf_counter()
        t = next(stream, None)
        tm["read_s"] = tm.get("read_s", 0.0) + time.perf_counter() - t0
        if t is None:
            return
        yield t


def _copier(
    side: Any, sql: _Sql, src: _Pipe, out: _Pipe, made: list[str], tm: dict[str, float]
) -> None:
    """The copying thread: each chunk into a committed scratch table of the second connection."""
    n = 0
    try:
        while True:
            item = src.get()
            if isinstance(item, _Chunk):
                if _copy_hook is not None:
                    _copy_hook(n)
                item.table = f"{sql.tag}_{n}"
                made.append(item.table)
                with side.cursor() as sc:
                    sc.execute(sql.create(item.table))
                    _copy_rows(sc, sql, item, tm)
                n += 1
            out.put(item)
            if not isinstance(item, _Chunk):
                return
    except BaseException as e:  # noqa: BLE001 - handed to the loading thread, raised there
        out.put(e)


def first_load(
    session: Session, *, path: Path, tm: dict[str, float], want_ids: bool
) -> tuple[LoadReport, int, list[int]] | None:
    """A first load of the source through the pipeline, in the caller's transaction: (report,
    cameras inserted, their ids when ``want_ids``), or ``None`` when this is not a first load, the
    file is small, or pandas cannot read it (then the serial path loads it)."""
    if path.stat().st_size < PIPELINE_MIN_BYTES:
        return None
    conn: Any = session.connection().connection.dbapi_connection
    assert conn is not None
    with conn.cursor() as cur:
        cur.execute("set local synchronous_commit = off")
        cur.execute("set local jit = off")
        cur.execute("set local maintenance_work_mem = '512MB'")
        cur.execute("select pg_advisory_xact_lock(%s)", (bulk._LOAD_LOCK,))
        cur.execute("select to_regclass('camera_sources') is not null")
        if not cur.fetchone()[0] or bulk._source_stored(cur):
            return None
        t0 = time.perf_counter()
        got = iter_columns(path, chunk_rows=CHUNK_ROWS)
        tm["read_s"] = time.perf_counter() - t0
        if got is None:
            return None
        cur.execute("show transaction_isolation")
        side = None
        if cur.fetchone()[0] == "read committed" and SECOND_CONNECTION:
            from geo.load.bulk_parallel import _side_connection, _sweep_scratch

            side = _side_connection(conn)
            with side.cursor() as sc:
                _sweep_scratch(sc)
        made: list[str] = []
        cur.execute(f"savepoint {_SAVEPOINT}")
        try:
            out = _pipeline(cur, side, path, got, tm, made, want_ids=want_ids)
        except BaseException as e:
            with contextlib.suppress(Exception):  # the load's own error is the one to report
                cur.execute(f"rollback to savepoint {_SAVEPOINT}")
                if side is not None:
                    for table in made:
                        side.execute(f"drop table if exists {table}")
            if isinstance(e, NotStreamable):
                return None
            raise
        finally:
            if side is not None:
                side.close()
        cur.execute(f"release savepoint {_SAVEPOINT}")
        return out


def _pipeline(
    cur: Any,
    side: Any,
    path: Path,
    got: tuple[list[str], str, int, Iterator[Columns]],
    tm: dict[str, float],
    made: list[str],
    *,
    want_ids: bool,
) -> tuple[LoadReport, int, list[int]]:
    header, enc, n_lines, stream = got
    rebuild = _drop_for_insert(cur, n_lines - 1)
    cur.execute("select pg_get_serial_sequence('cameras', 'id')")
    sql = _Sql(header, f"_camera_scratch_{uuid.uuid4().hex[:12]}", cur.fetchone()[0])
    cur.execute(sql.create(sql.held))
    report = LoadReport(kind="cameras", fmt=SOURCE, path=str(path.resolve()), encoding=enc)
    stop = threading.Event()
    read_tm: dict[str, float] = {}
    copy_tm: dict[str, float] = {}
    raw, src = _Pipe(stop), _Pipe(stop)
    threads = [threading.Thread(target=_read, args=(stream, raw, report, path, read_tm))]
    if side is not None:
        threads.append(threading.Thread(target=_copier, args=(side, sql, raw, src, made, copy_tm)))
    else:
        src = raw
    for th in threads:
        th.start()
    try:
        done = _insert_chunks(cur, sql, src, tm, copy_here=side is None)
    finally:
        stop.set()
        for th in threads:
            th.join()
    for part in (read_tm, copy_tm):
        tm.update({k: v + tm.get(k, 0.0) for k, v in part.items()})
    n = _fix_up(cur, sql, done, tm)
    for ddl in rebuild:
        bulk._exec(cur, tm, "rebuild_s", ddl)
    if n >= bulk.REINDEX_MIN_NEW:
        for table in ("cameras", "camera_sources"):
            bulk._exec(cur, tm, "analyze_s", f"analyze {table}")
    cur.execute(f"drop table {sql.held}")
    ids: list[int] = []
    if want_ids:  # (a first load: every camera of the source is new)
        cur.execute("select id from cameras where source = %s order by id", (SOURCE,))
        ids = [r[0] for r in cur.fetchall()]
    return done.report, n, ids


def _insert_chunks(
    cur: Any, sql: _Sql, src: _Pipe, tm: dict[str, float], *, copy_here: bool
) -> _Done:
    """Insert each chunk's cameras and records as it arrives; returns the whole-file result."""
    n = 0
    while True:
        t0 = time.perf_counter()
        item = src.get()
        tm["wait_s"] = tm.get("wait_s", 0.0) + time.perf_counter() - t0
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, _Done):
            return item
        if item is None:
            raise LoadError("the first load's reading stopped", field="file")
        if copy_here:
            item.table = f"{sql.tag}_{n}"
            cur.execute(sql.create(item.table))
            _copy_rows(cur, sql, item, tm)
        bulk._exec(cur, tm, "cameras_s", sql.cameras(item.table, "where s.ins"))
        bulk._exec(cur, tm, "records_s", sql.records(item.table, "where s.ins"), sql.obj_params)
        if not item.first.all():
            cur.execute(f"insert into {sql.held} select * from {item.table} where not ins")
        cur.execute(f"drop table {item.table}")
        n += 1


def _drop_for_insert(cur: Any, rows: int) -> list[str]:
    """For a load that at least doubles ``cameras`` (:data:`geo.load.bulk.REINDEX_MIN_NEW`): drop
    the secondary indexes of both tables and the records' foreign key; returns the DDL that puts
    them back."""
    cur.execute("select count(*) from cameras")
    if rows < max(bulk.REINDEX_MIN_NEW, int(cur.fetchone()[0])):
        return []
    fks = bulk._drop_foreign_keys(cur, "camera_sources")
    idx = [d for t in ("cameras", "camera_sources") for d in bulk._drop_secondary_indexes(cur, t)]
    return idx + fks


class _Sql:
    """The statements of one pipeline: its scratch tables and the inserts from them."""

    def __init__(self, header: list[str], tag: str, seq: str) -> None:
        self.names = list(dict.fromkeys(header))
        self.tag, self.held = tag, f"{tag}_held"
        stage = ", ".join(f"{c} {ty}" for c, ty in bulk._STAGE_COLS)
        raws = "".join(f", r{j} text" for j in range(len(self.names)))
        ident = f"id int default nextval('{seq}'::regclass)"
        self.ddl = f"({ident}, ord bigint, ins bool, {stage}{raws})"
        self.cols = ["ord", "ins", *(c for c, _ in bulk._STAGE_COLS)]
        self.cols += [f"r{j}" for j in range(len(self.names))]
        self.cam_sel = bulk._camera_select()
        self.obj, self.obj_params = bulk._record_fields(self.names)

    def create(self, table: str) -> str:
        return f"create unlogged table {table} {self.ddl}"

    def cameras(self, table: str, where: str) -> str:
        cols = ", ".join(bulk._CAMERA_COLS)
        return (
            f"insert into cameras (id, {cols}) select s.id, {self.cam_sel} from {table} s {where}"
        )

    def records(self, table: str, where: str) -> str:
        return f"""insert into camera_sources
                       (camera_id, source, external_id, fields, geom, coord_decimals)
                   select s.id, '{SOURCE}', s.external_id, {self.obj},
                          st_geomfromtext(s.geom, 4326), s.coord_decimals
                   from {table} s {where}"""


def _copy_rows(cur: Any, sql: _Sql, c: _Chunk, tm: dict[str, float]) -> None:
    """COPY a chunk's accepted rows into its scratch table (ids drawn in file order)."""
    data = [c.offset + c.at, c.first]
    data += [c.rows[col].to_numpy(dtype=object) for col, _ in bulk._STAGE_COLS]
    data += [c.t.cols[h][c.at] for h in sql.names]
    t0 = time.perf_counter()
    with cur.copy(f"copy {c.table} ({', '.join(sql.cols)}) from stdin") as cp:
        for rec in zip(*data, strict=True):
            cp.write_row(rec)
    tm["copy_s"] = tm.get("copy_s", 0.0) + time.perf_counter() - t0


def _fix_up(cur: Any, sql: _Sql, done: _Done, tm: dict[str, float]) -> int:
    """Make the inserted rows the whole-file rules' ``keep``: delete the rows they refused,
    insert the held rows whose earlier twin they refused. Returns the cameras inserted."""
    t0 = time.perf_counter()
    keep = done.keep
    ins = np.zeros(len(keep), bool)
    for c in done.chunks:
        ins[c.offset + c.at[c.first]] = True
    ext = np.concatenate([c.d["ext"] for c in done.chunks])
    gone = ext[ins & ~keep].tolist()
    if gone:
        for table in ("camera_sources", "cameras"):
            cur.execute(
                f"delete from {table} where source = %s and external_id = any(%s)",
                (SOURCE, gone),
            )
    back = np.flatnonzero(keep & ~ins).tolist()
    if back:
        where = "where s.ord = any(%s)"
        cur.execute(sql.cameras(sql.held, where), [back])
        if cur.rowcount != len(back):
            raise LoadError("a held row of the first load went missing", field="file")
        cur.execute(sql.records(sql.held, where), [*sql.obj_params, back])
    tm["fixup_s"] = time.perf_counter() - t0
    return int(ins.sum()) - len(gone) + len(back)
