"""One camera, one row: store each source's record and keep one ``cameras`` row per camera.

A camera load writes the file's rows to ``camera_sources`` (one record per (source, external_id),
the file's own fields and position) and then :func:`reconcile` regroups the records
(:func:`geo.load.merge.clusters`: likely matches only) and makes ``cameras`` hold exactly one row
per group. A record that matches a camera already loaded from another file is attached to that
camera; no duplicate row is ever created, so ids that shares, recordings and views refer to stay.

Which source's value wins, per field (the merged row; every source's own values stay in
``camera_sources.fields``):

* ``source``/``external_id`` (the row's primary record): the national standard data, then
  the traffic list, then the 2015 inventory, then any other source by name. The file's own row
  (``raw``) is stored once, in each record's ``fields``: a camera's is its primary record's
  (``camera_sources`` where ``(source, external_id)`` is the camera's), never copied into
  ``cameras``, so a merge that changes the primary record loses nothing and a national load
  writes it once.
* ``name``: the traffic list's name, then the 2015 inventory's (``008.월평초교``); the standard
  data has no name (its "name" is its address), so its address is the name only when alone.
* ``purpose``: the first that is not ``other`` in the primary order (the standard's
  설치목적구분, then 교통관제용, then the 2015 facility type); ``other`` when none says more.
* ``agency``, ``address``, ``camera_count``, ``resolution_px``, ``retention_days``,
  ``installed_on``, ``heading_deg``, ``fov_deg``, ``range_m``, ``tilt_deg``, ``stream_url``: the
  first known value in the primary order (the standard data is the current official registry).
  When no record names a ``stream_url`` (the registry files never do: streams come from the
  centre's video system), the camera keeps the one it has.
* ``camera_type``: the 2015 inventory first (its names say ``(돔)``/``(고정)``); ``ptz`` if any
  record says so.
* position: the record with the most decimal places in its coordinates (the standard data often
  gives 4, i.e. about 10 m; the 2015 inventory and the traffic list give 7), ties in primary order.

Which camera id survives when two existing rows become one (a record that joins two groups): the
row with most references (shares, recordings, masks, motion events: every foreign key to
``cameras`` but the derived views), then the smallest id; the other's references move to it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.load.merge import (
    MERGE_SOURCES,
    SOURCE_RANK,
    Key,
    clusters,
    match_candidates,
    record_texts,
)

#: a part of the records to regroup: (every candidate pair, the record ids), :func:`reconcile`
Subset = tuple[list[dict[str, Any]], list[int]]
NAME_ORDER = ("kr-traffic-api", "daejeon-2015")
TYPE_ORDER = ("daejeon-2015",)
FIRST_KNOWN = (
    "agency",
    "address",
    "camera_count",
    "resolution_px",
    "retention_days",
    "installed_on",
    "heading_deg",
    "fov_deg",
    "range_m",
    "tilt_deg",
    "stream_url",
)
CAMERA_COLUMNS = (
    "source",
    "external_id",
    "name",
    "purpose",
    "agency",
    "address",
    "geom",
    "heading_deg",
    "fov_deg",
    "range_m",
    "tilt_deg",
    "camera_type",
    "camera_count",
    "resolution_px",
    "ptz",
    "stream_url",
    "status",
    "retention_days",
    "installed_on",
)
#: tables derived from cameras, recomputed after a merge rather than moved
DERIVED = {"camera_sources", "camera_views", "camera_edges"}


def _decimals(v: float) -> int:
    s = repr(float(v))
    return 0 if "e" in s or "." not in s else len(s.split(".")[1].rstrip("0"))


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def source_record(row: dict[str, Any]) -> dict[str, Any]:
    """The ``camera_sources`` row of one parsed camera row (fields, own position, precision)."""
    lon_s, lat_s = row["geom"][len("POINT(") : -1].split()
    return {
        "source": row["source"],
        "external_id": row["external_id"],
        "fields": {k: _jsonable(v) for k, v in row.items() if k != "geom"},
        "geom": row["geom"],
        "coord_decimals": min(_decimals(float(lon_s)), _decimals(float(lat_s))),
    }


_STORED_SQL = text("""
select source, external_id, fields, st_astext(geom) as wkt, coord_decimals from camera_sources
where source = any(:s)
""")


def store_records(session: Session, rows: list[dict[str, Any]]) -> tuple[int, int, list[Key]]:
    """Insert or update the file's records by (source, external_id); an identical record is left
    alone. Returns (inserted, updated, the keys of the records written)."""
    import json

    recs = [source_record(r) for r in rows]
    stored = {
        (r["source"], r["external_id"]): r
        for r in session.execute(_STORED_SQL, {"s": sorted({r["source"] for r in recs})})
        .mappings()
        .all()
    }
    new, changed = [], []
    for r in recs:
        cur = stored.get((r["source"], r["external_id"]))
        if cur is None:
            new.append(r)
        elif (
            cur["fields"] != r["fields"]
            or _point(cur["wkt"]) != _point(r["geom"])
            or cur["coord_decimals"] != r["coord_decimals"]
        ):
            changed.append(r)
    params = [{**r, "fields": json.dumps(r["fields"], ensure_ascii=False)} for r in new + changed]
    if new:
        session.execute(
            text("""insert into camera_sources (source, external_id, fields, geom, coord_decimals)
                    values (:source, :external_id, cast(:fields as jsonb),
                            st_geomfromtext(:geom, 4326), :coord_decimals)"""),
            params[: len(new)],
        )
    if changed:
        session.execute(
            text("""update camera_sources set fields = cast(:fields as jsonb),
                    geom = st_geomfromtext(:geom, 4326), coord_decimals = :coord_decimals,
                    loaded_at = now() where source = :source and external_id = :external_id"""),
            params[len(new) :],
        )
    return len(new), len(changed), [(r["source"], r["external_id"]) for r in new + changed]


_DISTRICTS = re.compile(r"(대덕구|유성구|동구|중구|서구)")


def district_of(members: list[dict[str, Any]]) -> str | None:
    """The district (구) a group's records name in their agency or address, primary order first."""
    for m in sorted(members, key=_rank):
        f = m["fields"]
        for t in (f.get("agency"), *record_texts(f)):
            if t and (hit := _DISTRICTS.search(str(t))):
                return hit.group(1)
    return None


def _rank(rec: dict[str, Any]) -> tuple[int, str, str]:
    return (SOURCE_RANK.get(rec["source"], 9), rec["source"], rec["ext"])


def merged_row(members: list[dict[str, Any]]) -> dict[str, Any]:
    """The one ``cameras`` row of a group of records (the precedence in the module docstring)."""
    ordered = sorted(members, key=_rank)
    first = ordered[0]
    f = [m["fields"] for m in ordered]

    def known(col: str, order: list[dict[str, Any]] = f) -> Any:
        return next((x.get(col) for x in order if x.get(col) is not None), None)

    by_src = {m["source"]: m["fields"] for m in ordered}
    row: dict[str, Any] = {c: first["fields"].get(c) for c in CAMERA_COLUMNS if c != "geom"}
    row["source"], row["external_id"] = first["source"], first["ext"]
    row["name"] = known("name", [by_src[s] for s in NAME_ORDER if s in by_src] + f)
    purposes = [x.get("purpose") for x in f if x.get("purpose") not in (None, "other")]
    row["purpose"] = purposes[0] if purposes else "other"
    for col in FIRST_KNOWN:
        row[col] = known(col)
    row["camera_type"] = known("camera_type", [by_src[s] for s in TYPE_ORDER if s in by_src] + f)
    row["ptz"] = any(bool(x.get("ptz")) for x in f)
    row["camera_count"] = int(row["camera_count"] or 1)
    row["status"] = row.get("status") or "active"
    if isinstance(row["installed_on"], str):
        row["installed_on"] = dt.date.fromisoformat(row["installed_on"][:10])
    where = max(ordered, key=lambda m: (m["coord_decimals"] or 0, -_rank(m)[0]))
    row["geom"] = where["wkt"]
    return row


_RECS_COLS = """id as rec, camera_id, source, external_id as ext, fields, st_astext(geom) as wkt,
       coord_decimals, matched_by, matched_to, score, reason"""
_RECS_SQL = text(f"""
select {_RECS_COLS}
from camera_sources where source = any(:sources) order by source, external_id
""")
_SOME_RECS_SQL = text(f"""
select {_RECS_COLS}
from camera_sources where source = any(:sources) and id = any(:ids) order by source, external_id
""")


def _links(pairs: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """For each record merged into a camera: the best merged pair that joined it."""
    out: dict[Key, dict[str, Any]] = {}
    for p in sorted(pairs, key=lambda p: -p["score"]):
        if not p.get("merged"):
            continue
        for me, other in (("a", "b"), ("b", "a")):
            k = (p[f"{me}_source"], p[f"{me}_ext"])
            out.setdefault(k, {**p, "other": (p[f"{other}_source"], p[f"{other}_ext"])})
    return out


def _references(session: Session) -> list[tuple[str, str, list[str]]]:
    """(table, column, primary-key columns) of every foreign key to cameras.id but derived ones."""
    rows = session.execute(
        text("""
        select c.conrelid::regclass::text, a.attname,
               coalesce((select array_agg(pa.attname::text) from pg_constraint pk
                         join pg_attribute pa on pa.attrelid = pk.conrelid
                          and pa.attnum = any(pk.conkey)
                         where pk.conrelid = c.conrelid and pk.contype = 'p'), '{}')
        from pg_constraint c
        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
        where c.confrelid = 'cameras'::regclass and c.contype = 'f'
        order by 1, 2""")
    ).all()
    return [(t, col, list(pk)) for t, col, pk in rows if t not in DERIVED]


def _ref_counts(session: Session, ids: list[int]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    if not ids:
        return counts
    for table, col, _ in _references(session):
        for cid, n in session.execute(
            text(f'select "{col}", count(*) from {table} where "{col}" = any(:ids) group by 1'),
            {"ids": ids},
        ).all():
            counts[int(cid)] += int(n)
    return counts


def _move_references(session: Session, gone: int, keep: int) -> None:
    """Point every reference to camera ``gone`` at ``keep`` (a duplicate of one ``keep`` already
    has, e.g. both cameras in one share, is dropped)."""
    for table, col, pk in _references(session):
        if col in pk:  # keep's own row wins where both have one (same key otherwise)
            same = "".join(f' and t2."{c}" = t."{c}"' for c in pk if c != col)
            session.execute(
                text(f"""update {table} t set "{col}" = :keep where t."{col}" = :gone
                         and not exists (select 1 from {table} t2
                                         where t2."{col}" = :keep{same})"""),
                {"keep": keep, "gone": gone},
            )
            session.execute(text(f'delete from {table} where "{col}" = :gone'), {"gone": gone})
        else:
            session.execute(
                text(f'update {table} set "{col}" = :keep where "{col}" = :gone'),
                {"keep": keep, "gone": gone},
            )


def _assign(
    groups: dict[Key, list[dict[str, Any]]], primary_of: dict[int, Key], group_of: dict[Key, Key]
) -> tuple[dict[Key, list[int]], list[Key]]:
    """Which existing camera ids each group may keep; groups that need a new camera.

    A camera belongs to the group holding its primary record (else to the smallest group that
    points at it); the other groups pointing at it (a split) get their own camera.
    """
    claims: dict[int, set[Key]] = defaultdict(set)
    for g, members in groups.items():
        for m in members:
            if m["camera_id"] is not None:
                claims[m["camera_id"]].add(g)
    won: dict[Key, list[int]] = defaultdict(list)
    for cid, gs in sorted(claims.items()):
        owner = group_of.get(primary_of.get(cid, ("", "")))
        won[owner if owner in gs else min(gs)].append(cid)
    return won, [g for g in sorted(groups) if not won.get(g)]


def _new_ids(session: Session, n: int) -> list[int]:
    if not n:
        return []
    return list(
        session.execute(
            text(
                "select nextval(pg_get_serial_sequence('cameras', 'id')) from generate_series(1, :n)"
            ),
            {"n": n},
        ).scalars()
    )


def _record_updates(
    groups: dict[Key, list[dict[str, Any]]],
    final: dict[Key, int],
    primary: dict[Key, Key],
    links: dict[Key, dict[str, Any]],
) -> list[dict[str, Any]]:
    out = []
    for g, members in groups.items():
        for m in members:
            k = (m["source"], m["ext"])
            link = links.get(k) if k != primary[g] else None
            want = {
                "camera_id": final[g],
                "matched_by": "likely" if link else "own",
                "matched_to": f"{link['other'][0]}:{link['other'][1]}" if link else None,
                "score": link["score"] if link else None,
                "reason": link["why"] if link else None,
            }
            if any(m[c] != v for c, v in want.items()):
                out.append({"rec": m["rec"], **want})
    return out


def _regroup(
    session: Session, scope: list[str], subset: Subset | None = None
) -> tuple[list[dict[str, Any]], dict[Key, list[dict[str, Any]]], dict[Key, Key]]:
    """The pairs, the groups of records ({group key: records}) and each record's group (of
    ``subset``'s records only, with its pairs, when given)."""
    if subset is not None:
        pairs, ids = subset
        recs = [
            dict(r)
            for r in session.execute(_SOME_RECS_SQL, {"sources": scope, "ids": ids}).mappings()
        ]
    else:
        pairs = match_candidates(session) if set(scope) & set(MERGE_SOURCES) else []
        recs = [dict(r) for r in session.execute(_RECS_SQL, {"sources": scope}).mappings()]
    group_of = clusters([(r["source"], r["ext"]) for r in recs], pairs)
    groups: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    for r in recs:
        groups[group_of[(r["source"], r["ext"])]].append(r)
    return pairs, groups, group_of


def _camera_ids(
    session: Session,
    groups: dict[Key, list[dict[str, Any]]],
    group_of: dict[Key, Key],
    rows: dict[Key, dict[str, Any]],
    scope: list[str],
) -> tuple[dict[Key, int], list[Key], list[tuple[int, int]]]:
    """The camera id of every group, the groups that need a new row, and (merged-away id,
    surviving id) pairs."""
    cids = sorted({r["camera_id"] for ms in groups.values() for r in ms if r["camera_id"]})
    primary_of = {
        int(i): (s, e)
        for i, s, e in session.execute(
            text("select id, source, external_id from cameras where id = any(:ids)"), {"ids": cids}
        ).all()
    }
    won, new = _assign(groups, primary_of, group_of)
    refs = _ref_counts(session, [c for ids in won.values() if len(ids) > 1 for c in ids])
    final: dict[Key, int] = {}
    gone: list[tuple[int, int]] = []
    for g, ids in won.items():
        keep = min(ids, key=lambda c: (-refs.get(c, 0), c))
        final[g] = keep
        gone += [(c, keep) for c in ids if c != keep]
    # a camera row without records (loaded before records existed) with the same key is adopted
    orphans: dict[str, int] = {
        str(k): int(i)
        for k, i in session.execute(
            text("""select source || chr(31) || external_id, id from cameras c
                    where not exists (select 1 from camera_sources s where s.camera_id = c.id)
                      and source = any(:s)"""),
            {"s": scope},
        ).all()
    }
    fresh = []
    for g in new:
        adopt = orphans.get(f"{rows[g]['source']}\x1f{rows[g]['external_id']}")
        if adopt is not None:
            final[g] = adopt
        else:
            fresh.append(g)
    for g, cid in zip(fresh, _new_ids(session, len(fresh)), strict=True):
        final[g] = cid
    return final, fresh, gone


def reconcile(
    session: Session, *, sources: list[str] | None = None, subset: Subset | None = None
) -> dict[str, Any]:
    """Regroup the records of :data:`MERGE_SOURCES` (and ``sources``) and make ``cameras`` hold one
    row per group; returns the pairs, the groups, the camera ids written and what was merged.

    Idempotent: the same records give the same groups, the same rows and the same ids, and write
    nothing. Groups depend only on the records, never on the order they were loaded in.

    ``subset`` (the pairs, record ids): regroup only these records, a set closed under pairs and
    cameras whose complement is known to be single-record cameras already right
    (:func:`geo.load.merge_scope.merge_touched`, after a national COPY load).
    """
    # a load of another source (OSM, GeoJSON) regroups only its own records: nothing to match
    merging = sources is None or bool(set(sources) & set(MERGE_SOURCES))
    scope = sorted((set(MERGE_SOURCES) if merging else set()) | set(sources or []))
    pairs, groups, group_of = _regroup(session, scope, subset)
    rows = {g: merged_row(m) for g, m in groups.items()}
    final, fresh, gone = _camera_ids(session, groups, group_of, rows, scope)
    # order matters: new rows first (records then point at them), merged-away rows go before
    # the survivors take their new keys (uq source, external_id)
    inserted = _write_cameras(session, [{"id": final[g], **rows[g]} for g in fresh], insert=True)
    primary = {g: (rows[g]["source"], rows[g]["external_id"]) for g in groups}
    upd_recs = _record_updates(groups, final, primary, _links(pairs))
    if upd_recs:
        session.execute(
            text("""update camera_sources set camera_id = :camera_id, matched_by = :matched_by,
                    matched_to = :matched_to, score = :score, reason = :reason where id = :rec"""),
            upd_recs,
        )
    for g_id, keep in gone:
        _move_references(session, g_id, keep)
    if gone:
        session.execute(
            text("delete from cameras where id = any(:ids)"), {"ids": [c for c, _ in gone]}
        )
    is_fresh = set(fresh)
    kept = [{"id": final[g], **rows[g]} for g in groups if g not in is_fresh]
    changed = _write_cameras(session, _differing(session, kept), insert=False)
    return {
        "pairs": pairs,
        "groups": {g: [(m["source"], m["ext"]) for m in ms] for g, ms in groups.items()},
        "camera_of": {g: final[g] for g in groups},
        "districts": {g: district_of(ms) for g, ms in groups.items()},
        "purposes": {g: rows[g]["purpose"] for g in groups},
        "inserted_ids": inserted,
        "changed_ids": changed,
        "merged_away": gone,
        "records_moved": len(upd_recs),
    }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) < 1e-9
    return bool(a == b)


def _point(wkt: str) -> tuple[float, float]:
    x, y = wkt[wkt.index("(") + 1 : -1].split()
    return round(float(x), 8), round(float(y), 8)


def _differing(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose stored camera differs in any column (sending only those keeps a re-load
    fast: the database is not asked to compare 10,000 unchanged rows)."""
    if not rows:
        return []
    cols = [c for c in CAMERA_COLUMNS if c != "geom"]
    current = {
        r["id"]: r
        for r in session.execute(
            text(
                f"select id, {', '.join(cols)}, st_astext(geom) as geom from cameras "
                "where id = any(:ids)"
            ),
            {"ids": [r["id"] for r in rows]},
        ).mappings()
    }
    out = []
    for r in rows:
        cur = current.get(r["id"])
        if cur is not None and r.get("stream_url") is None:
            r["stream_url"] = cur["stream_url"]  # no file names one: the configured stream stays
        if (
            cur is None
            or _point(cur["geom"]) != _point(r["geom"])
            or not all(_same(cur[c], r[c]) for c in cols)
        ):
            out.append(r)
    return out


def _write_cameras(session: Session, rows: list[dict[str, Any]], *, insert: bool) -> list[int]:
    """Insert new camera rows (with their ids) or update changed ones; returns the ids written.

    Plain ``executemany`` (psycopg pipelines it, the statement is parsed once): much cheaper than
    a multi-row VALUES statement per thousand rows.
    """
    if not rows:
        return []
    cols = [c for c in CAMERA_COLUMNS if c != "geom"]
    if insert:
        sql = f"""insert into cameras (id, {", ".join(cols)}, geom)
                  values (:id, {", ".join(f":{c}" for c in cols)}, st_geomfromtext(:geom, 4326))"""
    else:
        sql = f"""update cameras set {", ".join(f"{c} = :{c}" for c in cols)},
                  geom = st_geomfromtext(:geom, 4326), updated_at = now() where id = :id"""
    session.execute(text(sql), rows)
    return [int(r["id"]) for r in rows]


def load_records(session: Session, *, rows: list[dict[str, Any]], report: Any) -> list[int]:
    """Store a parsed file's records, merge, write the merge report; returns the camera ids
    written (inserted or changed), whose views need a refresh.

    Fills ``report.inserted/updated/unchanged`` (records of the file) and adds the merge summary
    and the report paths to ``report.notes`` (information, not warnings).
    """

    # one camera load at a time: the regrouping reads every record
    session.execute(text("select pg_advisory_xact_lock(7244010)"))
    ins, upd, written = store_records(session, rows)
    if ins > 100:  # fresh statistics, else the pair query's plan scans all pairs of records
        session.execute(text("analyze camera_sources"))
    report.inserted, report.updated = ins, upd
    report.unchanged = len(rows) - ins - upd
    sources = sorted({r["source"] for r in rows})
    if set(sources) & set(MERGE_SOURCES):  # (after a national load: a million records stored)
        from geo.load.merge_scope import merge_touched

        return merge_touched(session, report=report, sources=sources, written=written)
    return merge_and_report(session, report=report, sources=sources)


def merge_and_report(session: Session, *, report: Any, sources: list[str]) -> list[int]:
    """:func:`reconcile` after a load of ``sources``' records, its summary and report paths
    added to ``report.notes``; returns the camera ids written (inserted or changed)."""
    from geo.load.merge import write_merge_report

    result = reconcile(session, sources=sources)
    report.notes += write_merge_report(session, result, report=report, sources=sources)
    return sorted(set(result["inserted_ids"]) | set(result["changed_ids"]))
