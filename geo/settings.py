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
    #: A signing key from the environment (key id "env"); unset = the random keys in
    #: ``<home>/keys`` (geo.access.keys; ``goldentime keys rotate``). No default: a key from the
    #: repository is never used, and ``serve`` refuses a short one unless ``dev_mode``.
    secret_key: str | None = None
    #: Development only: ``serve`` starts with a weak GOLDENTIME_SECRET_KEY (and says so).
    dev_mode: bool = False
    token_ttl_s: int = 8 * 3600
    #: Lifetime of the media tokens (``?mt=``) in video links: one user, camera, share, kind.
    media_token_ttl_s: int = 300
    #: Failed logins allowed per username and client address, and per client address over all
    #: usernames, within ``login_window_s`` (atomic counters in PostgreSQL, geo.access.login).
    login_max_failures: int = 5
    login_max_failures_per_ip: int = 20
    login_window_s: int = 300
    #: Unauthenticated refusals (401, throttled logins) audited per client address and window;
    #: beyond that one summary row "suppressed K more" (geo.access.throttle). The same cap holds
    #: per (user, address) for 403 refusals of an unregistered address (geo.access.caller).
    refusal_audit_max: int = 20
    refusal_audit_window_s: int = 60
    #: Seconds a request waits for a pooled database connection before answering 503.
    db_pool_timeout_s: float = 5.0
    #: Warm the camera tile index and the routing JIT in a background thread at server start
    #: (api/warmup.py); the tests turn it off.
    warmup: bool = True
    #: Seconds between a live stream's re-checks of its share and user (revoke, expiry, disable).
    live_recheck_s: float = 2.0
    trusted_proxies: list[str] = Field(default_factory=list)
    share_past_window_s: int = 30 * 60
    #: Longest a share lasts by default, and the most a video request or push may get without a
    #: supervisor's approval (geo.access.policy).
    share_ttl_s: int = 24 * 3600
    video_request_k: int = 5
    #: What a video request or push may grant without approval (geo.access.policy): its recorded
    #: window starts at most this long before the incident's occurred_at ...
    policy_window_before_s: int = 2 * 3600
    #: ... and ends at most this long after it (and never after now) ...
    policy_window_after_s: int = 3600
    #: ... for at most this many cameras.
    policy_max_cameras: int = 10
    #: Automation rule: a priority-1 police incident registered by a police officer makes its
    #: video request on registration, for that officer (false = off).
    policy_rule_p1_police_auto_request: bool = True
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
