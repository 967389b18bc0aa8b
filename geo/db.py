"""Engine and sessions: ``DATABASE_URL`` when set, else the embedded cluster of this checkout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from geo.settings import get_settings


def database_url() -> str:
    """The SQLAlchemy URL every command uses (psycopg 3 driver)."""
    url = get_settings().database_url
    if url:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    from geo.embedded import cluster

    return cluster().url()


def uses_embedded() -> bool:
    return not get_settings().database_url


@lru_cache
def get_engine(url: str | None = None) -> Engine:
    """One pooled engine per URL for the process."""
    return create_engine(url or database_url(), pool_size=10, max_overflow=20, pool_pre_ping=True)


@lru_cache
def _factory(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


def new_session(url: str | None = None) -> Session:
    return _factory(url)()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error (one transaction)."""
    s = new_session(url)
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise
    finally:
        s.close()
