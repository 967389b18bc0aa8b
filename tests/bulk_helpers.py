"""What the COPY-path tests (test_load_bulk.py, test_load_pipeline.py) share: emptying the
national source before a first load, and the state a failed load must leave as it was."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

#: Camera and record counts, the two tables' indexes, the records' constraints and the scratch
#: tables left behind: all the same before and after a load that failed.
STATE = text(
    r"""select (select count(*) from cameras), (select count(*) from camera_sources),
              (select array_agg(indexdef order by indexname) from pg_indexes
               where tablename in ('cameras', 'camera_sources')),
              (select array_agg(pg_get_constraintdef(oid) order by conname)
               from pg_constraint where conrelid = 'camera_sources'::regclass),
              (select count(*) from pg_class where relname like '\_camera\_scratch\_%')"""
)


def empty_source(session: Session) -> None:
    """No camera or record of the national standard source: the next load is a first load."""
    session.execute(text("delete from camera_sources where source = 'kr-standard'"))
    session.execute(text("delete from cameras where source = 'kr-standard'"))
