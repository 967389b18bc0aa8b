"""The SQL of the COPY path (:mod:`geo.load.bulk`): the staging table and its COPY, the
statements that write ``cameras`` and ``camera_sources`` from it (first load and upsert), and
the DDL a large first load drops and puts back (secondary indexes, the records' foreign key).

Shared by the serial path (:mod:`geo.load.bulk`), the two-connection first load
(:mod:`geo.load.bulk_parallel`) and the pipelined one (:mod:`geo.load.bulk_pipeline`), so the
three write exactly the same rows.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from geo.load.standard import SOURCE, Columns
from geo.load.unify import CAMERA_COLUMNS

# --- into the database -------------------------------------------------------------------------

_STAGE_COLS = (
    ("external_id", "text"),
    ("name", "text"),
    ("purpose", "text"),
    ("agency", "text"),
    ("address", "text"),
    ("geom", "text"),
    ("heading_deg", "float8"),
    ("fov_deg", "float8"),
    ("camera_count", "int"),
    ("resolution_px", "int"),
    ("retention_days", "int"),
    ("installed_on", "date"),
    ("coord_decimals", "smallint"),
)
#: Columns the row path writes (``_camera_row``), in that order; the key first: the one list
#: in :mod:`geo.load.unify`.
_CAMERA_COLS = CAMERA_COLUMNS
#: One camera load at a time: the row path's lock (:func:`geo.load.unify.load_records`).
_LOAD_LOCK = 7244010

#: Insert at least this many new cameras, and at least as many as the table holds, and the
#: secondary indexes of ``cameras`` and ``camera_sources`` (GiST, ``camera_id``) are dropped for
#: the insert and rebuilt afterwards: building them at once costs a fraction of a million single
#: insertions (the tables are locked for readers until the load commits; an incremental load
#: never does this). A first load of the source drops the records' foreign key too and adds it
#: back (one join checks it, instead of a trigger query per row).
REINDEX_MIN_NEW = 100_000


def _exec(cur: Any, tm: dict[str, float], key: str, sql: str, params: Any = None) -> None:
    """Run one statement, adding its wall time to ``tm[key]`` (the per-statement breakdown)."""
    t0 = time.perf_counter()
    cur.execute(sql, params)
    tm[key] = tm.get(key, 0.0) + time.perf_counter() - t0


def _raw_sql(names: list[str]) -> tuple[str, list[Any]]:
    """The raw columns as one JSONB object: ``jsonb_object`` of the header names and the values
    (text arrays; half the CPU of a ``jsonb_build_object`` of as many pairs)."""
    if not names:
        return "'{}'::jsonb", []
    values = ", ".join(f"s.r{j}" for j in range(len(names)))
    return f"jsonb_object(%s::text[], array[{values}]::text[])", [list(names)]


def _stage(
    cur: Any,
    t: Columns,
    rows: pd.DataFrame,
    keep: np.ndarray,
    names: list[str],
    *,
    fresh: bool,
    tm: dict[str, float],
    table: str = "_camera_stage",
) -> None:
    """COPY the rows and the raw values of their file rows into a temporary staging table
    (``table`` other than ``_camera_stage``: an UNLOGGED table that other connections see once
    committed, :func:`geo.load.bulk_parallel.insert_fresh_parallel`).

    ``fresh`` (no row of this source stored: every row is inserted, none matched): each row
    takes its camera id from the ``cameras`` sequence as it is copied, and the table needs no
    index or statistics (nothing is joined to it)."""
    stage = ", ".join(f"{c} {ty}" for c, ty in _STAGE_COLS)
    raws = "".join(f", r{j} text" for j in range(len(names)))
    ident = ""
    if fresh:
        cur.execute("select pg_get_serial_sequence('cameras', 'id')")
        ident = f"id int default nextval('{cur.fetchone()[0]}'::regclass), "
    if table == "_camera_stage":
        cur.execute("drop table if exists _camera_stage")
        cur.execute(f"create temp table _camera_stage ({ident}{stage}{raws}) on commit drop")
    else:
        cur.execute(f"create unlogged table {table} ({ident}{stage}{raws})")
    colnames = [c for c, _ in _STAGE_COLS] + [f"r{j}" for j in range(len(names))]
    data = [rows[c].to_numpy(dtype=object) for c, _ in _STAGE_COLS]
    data += [t.cols[h][keep] for h in names]
    t0 = time.perf_counter()
    with cur.copy(f"copy {table} ({', '.join(colnames)}) from stdin") as cp:
        for rec in zip(*data, strict=True):
            cp.write_row(rec)
    tm["copy_s"] = time.perf_counter() - t0
    if not fresh:
        _exec(cur, tm, "stage_index_s", "create index on _camera_stage (external_id)")
        _exec(cur, tm, "stage_index_s", "analyze _camera_stage")


#: A cameras row that other sources' records were merged into (geo.load.unify) is the merge's:
#: the COPY path updates this source's record of it, never the merged row.
_MERGED_GUARD = f"""and not exists (select 1 from camera_sources r
                 where r.camera_id = c.id and r.source <> '{SOURCE}')"""


def _camera_values() -> dict[str, str]:
    """Each ``cameras`` column (:data:`_CAMERA_COLS`) as an expression of a staged row ``s`` (the
    file's own row, ``raw``, is kept once, in the record: :func:`_record_fields`)."""
    values = {
        "source": f"'{SOURCE}'",
        "geom": "st_geomfromtext(s.geom, 4326)",
        "range_m": "null::float8",
        "tilt_deg": "null::float8",
        "camera_type": "null::text",
        "ptz": "false",
        "stream_url": "null::text",
        "status": "'active'::text",
    }
    return {c: values.get(c, f"s.{c}") for c in _CAMERA_COLS}


def _camera_select() -> str:
    """The select list of a ``cameras`` row (:data:`_CAMERA_COLS`) from a staged row ``s``."""
    return ", ".join(_camera_values().values())


def _upsert_sql() -> str:
    """Write the staged rows into ``cameras``: a plain insert of the keys not stored (a national
    file adds a million to a city's thousands: ``ON CONFLICT`` took 60 % longer per row) and an
    update of the stored ones that differ, in one statement (one snapshot: the two never touch
    the same row). A file that names no stream keeps the camera's (the VMS's, set by
    operators); a camera merged with other sources is the merge's (:data:`_MERGED_GUARD`).
    Leaves ``_camera_changed`` (id, ins) and deletes the views of updated cameras."""
    val = _camera_values()
    upd = [c for c in _CAMERA_COLS if c not in ("source", "external_id")]
    sets = ", ".join(
        f"{c} = coalesce({val[c]}, c.{c})" if c == "stream_url" else f"{c} = {val[c]}" for c in upd
    )
    differs = " or ".join(
        f"({val[c]} is not null and c.{c} is distinct from {val[c]})"
        if c == "stream_url"
        else f"c.{c} is distinct from {val[c]}"
        for c in upd
    )
    return f"""
        create temp table _camera_changed on commit drop as
        with ins as (
            insert into cameras as c ({", ".join(_CAMERA_COLS)})
            select {_camera_select()} from _camera_stage s
            where not exists (select 1 from cameras k
                              where k.source = '{SOURCE}' and k.external_id = s.external_id)
            returning c.id
        ), up as (
            update cameras c set {sets}, updated_at = now()
            from _camera_stage s
            where c.source = '{SOURCE}' and c.external_id = s.external_id and ({differs})
                  {_MERGED_GUARD}
            returning c.id
        ), stale as (
            delete from camera_views v using up where v.camera_id = up.id
        )
        select id, true as ins from ins union all select id, false from up"""


def _record_fields(names: list[str]) -> tuple[str, list[Any]]:
    """A record's ``fields`` (``geo.load.unify.source_record``: the row's fields but geom) from
    a staged row ``s``, as one JSONB expression."""
    raw_sql, raw_params = _raw_sql(names)
    fields = {c: f"s.{c}" for c, _ in _STAGE_COLS if c not in ("geom", "coord_decimals")}
    fields |= {
        "source": f"'{SOURCE}'::text",
        "installed_on": "to_char(s.installed_on, 'YYYY-MM-DD')",
        "range_m": "null::float8",
        "tilt_deg": "null::float8",
        "camera_type": "null::text",
        "ptz": "false",
        "stream_url": "null::text",
        "status": "'active'::text",
        "raw": raw_sql,
    }
    # one call: ``||`` of two objects decodes and re-encodes both (``raw`` nested in one),
    # a fifth of the records' insert
    obj = "jsonb_build_object(" + ", ".join(f"'{k}', {v}" for k, v in fields.items()) + ")"
    return obj, raw_params


def _records_sql(names: list[str]) -> tuple[str, list[Any]]:
    """Write this file's ``camera_sources`` records: a plain insert of the keys not stored (a
    new record points at its camera) and an update of the stored ones that differ, in one
    statement, as :func:`_upsert_sql` does for the cameras."""
    obj, raw_params = _record_fields(names)
    geom = "st_geomfromtext(s.geom, 4326)"
    sql = f"""
        with ins as (
            insert into camera_sources (camera_id, source, external_id, fields, geom,
                                        coord_decimals)
            select c.id, '{SOURCE}', s.external_id, {obj}, {geom}, s.coord_decimals
            from _camera_stage s
            left join cameras c on c.source = '{SOURCE}' and c.external_id = s.external_id
            where not exists (select 1 from camera_sources k
                              where k.source = '{SOURCE}' and k.external_id = s.external_id)
            returning 1
        )
        update camera_sources r
        set fields = {obj}, geom = {geom}, coord_decimals = s.coord_decimals, loaded_at = now()
        from _camera_stage s
        where r.source = '{SOURCE}' and r.external_id = s.external_id
          and (r.fields is distinct from {obj} or r.geom is distinct from {geom}
               or r.coord_decimals is distinct from s.coord_decimals)"""
    return sql, raw_params * 3


def _drop_secondary_indexes(cur: Any, table: str) -> list[str]:
    """Drop the indexes of ``table`` that back no constraint; returns their definitions."""
    cur.execute(
        """select i.relname, pg_get_indexdef(x.indexrelid) from pg_index x
           join pg_class i on i.oid = x.indexrelid
           where x.indrelid = %s::regclass and not x.indisunique and not x.indisprimary
             and not exists (select 1 from pg_constraint k where k.conindid = x.indexrelid)""",
        (table,),
    )
    found = cur.fetchall()
    for name, _ in found:
        cur.execute(f'drop index "{name}"')
    return [d for _, d in found]


def _drop_foreign_keys(cur: Any, table: str) -> list[str]:
    """Drop the foreign keys of ``table``; returns the statements that add them back."""
    cur.execute(
        """select conname, pg_get_constraintdef(oid) from pg_constraint
           where conrelid = %s::regclass and contype = 'f'""",
        (table,),
    )
    found = cur.fetchall()
    for name, _ in found:
        cur.execute(f'alter table {table} drop constraint "{name}"')
    return [f'alter table {table} add constraint "{n}" {d}' for n, d in found]


def _write_records(cur: Any, names: list[str], tm: dict[str, float]) -> int:
    """Upsert the records; returns how many rows belong to cameras merged with other sources."""
    sql, params = _records_sql(names)
    _exec(cur, tm, "records_s", sql, params)
    cur.execute(
        f"""select count(*) from _camera_stage s join cameras c
            on c.source = '{SOURCE}' and c.external_id = s.external_id
            where exists (select 1 from camera_sources r
                          where r.camera_id = c.id and r.source <> '{SOURCE}')"""
    )
    return int(cur.fetchone()[0])


def _source_stored(cur: Any) -> bool:
    """Whether any camera or record of this source is stored (else a load only inserts)."""
    cur.execute("select exists (select 1 from cameras where source = %s)", (SOURCE,))
    if cur.fetchone()[0]:
        return True
    cur.execute("select exists (select 1 from camera_sources where source = %s)", (SOURCE,))
    return bool(cur.fetchone()[0])
