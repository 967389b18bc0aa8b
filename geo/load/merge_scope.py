"""The merge after a camera load, on the records it can change, never a million in Python.

:func:`geo.load.unify.reconcile` regroups every record of the merge sources in Python: right for
a 9,000-row file, but after a million-row national load it held about 11 GB and took over two
minutes (every record's fields as dicts; 2026-12-01). The records whose group can change are
few: the ends of candidate pairs (records of two sources within ``MATCH_WITHIN_M``), the records
a row load just wrote, the records of cameras that hold several records or another record's
key, and records without a camera, closed under "shares a camera with". Every other record is
alone in its group and unchanged, and its camera row was derived from it already (by an earlier
merge, or by the COPY path from the same staged row: the COPY path's tests compare the two), so
:func:`merge_touched` regroups the touched records only and has the database count the others
by district and purpose for the merge report.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.load.merge import _ADDRESS_FIELDS, MERGE_SOURCES, match_candidates, write_merge_report
from geo.load.unify import _DISTRICTS, Key, reconcile

#: records whose group a merge may change, besides the pairs' ends (closed under cameras)
_TOUCHED_SQL = text("""
with t as (
    select unnest(cast(:ends as int[])) as id
    union
    select r.id from camera_sources r join cameras c on c.id = r.camera_id
    where r.source = any(:scope) and (c.source, c.external_id) <> (r.source, r.external_id)
    union
    select r.id from camera_sources r where r.source = any(:scope) and r.camera_id is null
)
select t.id from t
union
select r2.id from t join camera_sources r on r.id = t.id
join camera_sources r2 on r2.camera_id = r.camera_id and r2.source = any(:scope)
""")


def touched_records(
    session: Session, *, pairs: list[dict[str, Any]], written: list[int] | None = None
) -> list[int]:
    """Ids of the records a merge may regroup: the ends of ``pairs``, the records a load just
    wrote (``written``), every record of a camera whose key is not its own (so every camera of
    several records), records without a camera, and every record sharing a camera with one of
    those."""
    ends = {int(p["a_id"]) for p in pairs} | {int(p["b_id"]) for p in pairs} | set(written or [])
    rows = session.execute(_TOUCHED_SQL, {"ends": sorted(ends), "scope": list(MERGE_SOURCES)})
    return sorted(int(i) for i in rows.scalars())


def _singles_sql() -> str:
    """Per (source, district, purpose): how many records of the merge sources, not touched,
    there are. The district is :func:`geo.load.unify.district_of` of one record in SQL: the
    first of the agency, the address, the layout's address columns and the name
    (:func:`geo.load.merge.record_texts`) that names one, its leftmost match (the alternatives
    begin with different syllables, so PostgreSQL's and Python's regular expressions agree);
    the purpose is the merged row's (``other`` when none)."""
    texts = [
        "fields->>'agency'",
        "fields->>'address'",
        *(f"fields->'raw'->>'{k}'" for k in _ADDRESS_FIELDS),
        "fields->>'name'",
    ]
    district = ", ".join(f"substring({t} from :re)" for t in texts)
    return f"""
        select source, district, purpose, count(*) from (
            select source, coalesce({district}) as district,
                   coalesce(nullif(fields->>'purpose', 'other'), 'other') as purpose
            from camera_sources
            where source = any(:scope) and not (id = any(cast(:touched as int[])))
        ) r group by 1, 2, 3"""


def single_groups(
    session: Session, *, touched: list[int]
) -> list[tuple[str, str | None, str, int]]:
    """(source, district, purpose, records) of the records not ``touched``, each alone in its
    group: what :func:`geo.load.merge.merge_counts` needs of them, counted by the database."""
    rows = session.execute(
        text(_singles_sql()),
        {"scope": list(MERGE_SOURCES), "touched": touched, "re": _DISTRICTS.pattern},
    )
    return [(str(s), d, str(p), int(n)) for s, d, p, n in rows]


_IDS_SQL = text("""
select r.id from camera_sources r
join unnest(cast(:s as text[]), cast(:e as text[])) k(s, e)
  on r.source = k.s and r.external_id = k.e
""")


def merge_touched(
    session: Session, *, report: Any, sources: list[str], written: list[Key] | None = None
) -> list[int]:
    """:func:`geo.load.unify.merge_and_report` of the merge sources with only the records it can
    regroup read into Python: the same groups, rows, ids and report. ``written``: the records a
    row load just inserted or changed, whose cameras are to be derived again (the COPY path
    writes its new records' cameras itself). Returns the camera ids written (inserted or
    changed)."""
    pairs = match_candidates(session)
    ids: list[int] = []
    if written:
        s, e = zip(*written, strict=True)
        ids = [int(i) for i in session.execute(_IDS_SQL, {"s": list(s), "e": list(e)}).scalars()]
    touched = touched_records(session, pairs=pairs, written=ids)
    result = reconcile(session, sources=sources, subset=(pairs, touched))
    result["singletons"] = single_groups(session, touched=touched)
    report.notes += write_merge_report(session, result, report=report, sources=sources)
    return sorted(set(result["inserted_ids"]) | set(result["changed_ids"]))
