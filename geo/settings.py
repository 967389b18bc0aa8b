"""The one settings module: every knob is a ``GOLDENTIME_*`` environment variable (or ``DATABASE_URL``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Service configuration, read from the environment (and ``.env`` in the working directory)."""

    model_config = SettingsConfigDict(env_prefix="GOLDENTIME_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "GOLDENTIME_DATABASE_URL")
    )
    home: Path = PROJECT_ROOT / ".goldentime"
    db_name: str = "goldentime"
    db_user: str = "goldentime"
    data_dir: Path = PROJECT_ROOT / "data"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, validation_alias=AliasChoices("PORT", "GOLDENTIME_PORT"))
    #: API worker processes (``goldentime serve``); 0 = one per CPU core.
    workers: int = 0
    #: Connections per worker in the read-only async pool (token checks, nearest cameras).
    read_pool_size: int = 10
    #: Seconds an API worker may reuse a token check's user row; the row is dropped at once on
    #: any change to users (LISTEN/NOTIFY, geo.access.tokens.ActiveUserCache). 0 = read it every request.
    auth_cache_s: float = 60.0
    secret_key: str = "change-me-in-production-goldentime"
    token_ttl_s: int = 8 * 3600
    #: Failed logins allowed per username and client address, and per client address over all
    #: usernames, within ``login_window_s`` (counted from the audit log, so across workers).
    login_max_failures: int = 5
    login_max_failures_per_ip: int = 20
    login_window_s: int = 300
    trusted_proxies: list[str] = Field(default_factory=list)
    share_past_window_s: int = 30 * 60
    share_ttl_s: int = 24 * 3600
    video_request_k: int = 5
    tile_url: str | None = None
    tile_attribution: str = "© OpenStreetMap contributors"
    video_dir: Path = PROJECT_ROOT / ".goldentime" / "video"
    max_clip_s: int = 600
    video_segment_s: int = 60
    video_retention_days: int = 30
    live_max_fps: float = 5.0
    live_max_s: int = 3600
    motion_width_px: int = 160
    motion_debounce_s: float = 10.0


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (cached; call ``get_settings.cache_clear()`` in tests)."""
    return Settings()
