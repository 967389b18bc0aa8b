"""Schema management: create the database (with postgis + pgrouting) and apply Alembic migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from geo.db import database_url

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["url"] = url or database_url()
    return cfg


def migrate(url: str | None = None) -> None:
    """Bring the database at ``url`` to the newest schema (every branch head)."""
    from geo.embedded import ensure_database

    url = url or database_url()
    ensure_database(url)
    command.upgrade(alembic_config(url), "heads")
