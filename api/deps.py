"""Request dependencies: the database session (and, later, the current user and access gate)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from geo.db import new_session


def get_session() -> Iterator[Session]:
    """One session per request; committed when the handler returns, rolled back on error."""
    s = new_session()
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise
    finally:
        s.close()


SessionDep = Annotated[Session, Depends(get_session)]
