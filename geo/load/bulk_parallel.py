"""The first load of a national file on two cores (split from :mod:`geo.load.bulk`).

A second connection builds the ``camera_sources`` rows in committed UNLOGGED scratch tables
while the load's own transaction inserts the cameras and rebuilds their indexes; only the load's
transaction writes ``cameras`` and ``camera_sources``, so the load stays all or nothing.
Measured in docs/benchmarks.md ("The 1M first load").
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from geo.load import bulk
from geo.load.standard import SOURCE, Columns

#: Called on the second connection's thread before it builds the records (tests raise in it).
_side_hook: Callable[[], None] | None = None
#: Prefix of the committed UNLOGGED scratch tables of :func:`insert_fresh_parallel`.
_SCRATCH = "_camera_scratch_"


def _side_connection(conn: Any) -> Any:
    """A second autocommit connection to the same database as ``conn``."""
    kw = {"password": conn.info.password} if conn.info.password else {}
    side = psycopg.connect(conn.info.dsn, autocommit=True, **kw)
    side.execute("set synchronous_commit = off")
    side.execute("set jit = off")
    return side


def _sweep_scratch(cur: Any) -> None:
    """Drop scratch tables an earlier load left behind (a caller that rolled back a loaded
    transaction, a crash), on the second connection. Only under the load lock: no other load is
    running, so every such table is a leftover no transaction holds."""
    cur.execute(
        """select relname from pg_class where relname like %s and relkind = 'r'
           and relpersistence = 'u'""",
        (_SCRATCH.replace("_", r"\_") + "%",),
    )
    found = cur.fetchall()
    cur.execute("set lock_timeout = '1s'")  # (this transaction's own, dropped uncommitted)
    for (name,) in found:
        with contextlib.suppress(psycopg.errors.LockNotAvailable):
            cur.execute(f'drop table if exists "{name}"')
    cur.execute("reset lock_timeout")


def _build_records(side: Any, stage: str, recs: str, names: list[str], tm: dict[str, float]) -> str:
    """On the second connection: the records of the staged rows as an UNLOGGED table."""
    if _side_hook is not None:
        _side_hook()
    obj, params = bulk._record_fields(names)
    with side.cursor() as sc:
        bulk._exec(
            sc,
            tm,
            "records_side_s",
            f"""create unlogged table {recs} as
                select s.id as camera_id, '{SOURCE}'::text as source, s.external_id,
                       {obj} as fields, st_geomfromtext(s.geom, 4326) as geom, s.coord_decimals
                from {stage} s""",
            params,
        )
    return recs


def insert_fresh_parallel(
    conn: Any,
    cur: Any,
    data: tuple[Columns, pd.DataFrame, np.ndarray],
    names: list[str],
    tm: dict[str, float],
    *,
    want_ids: bool,
) -> tuple[int, list[int]]:
    """:func:`_insert_fresh` on two cores; returns (rows, their camera ids when ``want_ids``). A second connection COPYs the rows into a committed
    UNLOGGED scratch table and builds the records from it into another, while this transaction
    inserts the cameras; only this transaction writes ``cameras`` and ``camera_sources`` (the
    records are copied from the scratch table), so the load stays all or nothing. The scratch
    tables are dropped with the load's commit; on a failure this transaction goes back to a
    savepoint (releasing its locks on them) and the second connection drops them; a crash, or
    a caller that rolls the load back, leaves them to :func:`_sweep_scratch` of the next."""
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    tag = uuid.uuid4().hex[:12]
    stage, recs = f"{_SCRATCH}{tag}_s", f"{_SCRATCH}{tag}_r"
    side = _side_connection(conn)
    cur.execute("savepoint camera_fresh")
    try:
        with side.cursor() as sc:
            _sweep_scratch(sc)
            bulk._stage(sc, *data, names, fresh=True, tm=tm, table=stage)
        with ThreadPoolExecutor(1) as pool:
            fut = pool.submit(_build_records, side, stage, recs, names, tm)
            try:
                n, ids_sql = bulk._insert_fresh(
                    cur, names, tm=tm, stage=stage, records_from=fut.result
                )
            except BaseException:
                side.cancel_safe()
                raise
        ids: list[int] = []
        if want_ids:
            cur.execute(ids_sql)
            ids = [r[0] for r in cur.fetchall()]
        cur.execute(f"drop table {stage}, {recs}")
        cur.execute("release savepoint camera_fresh")
        return n, ids
    except BaseException:
        _undo_scratch(cur, side, stage, recs)
        raise
    finally:
        side.close()


def _undo_scratch(cur: Any, side: Any, stage: str, recs: str) -> None:
    """After a failed parallel first load: back to the savepoint, drop the scratch tables."""
    try:
        cur.execute("rollback to savepoint camera_fresh")
        side.execute(f"drop table if exists {stage}, {recs}")
    except Exception:  # noqa: BLE001 - the load's own error is the one to report
        pass
