"""Settings from the environment; handed to create_app, never read as an import-time global."""

from __future__ import annotations

import logging
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

SECRET_FILE = ".salon-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    database_url: str = "sqlite+aiosqlite:///./salon.db"
    broker_url: str = "memory://"
    # Prefix of every Redis channel name, so deployments (and test runs) sharing a Redis don't mix.
    broker_prefix: str = Field(default="salon", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    secret_key: str = ""
    access_token_expire_minutes: float = Field(default=60, gt=0)
    sse_ping_interval: float = Field(default=30, gt=0)
    sse_retry_ms: int = Field(default=3000, ge=0)
    # A client that leaves this many events unread is disconnected (it reconnects and catches up).
    sse_max_pending_events: int = Field(default=1000, ge=1)
    first_superadmin_email: str | None = None
    first_superadmin_password: str | None = None
    log_level: str = "info"

    @model_validator(mode="after")
    def _ensure_secret_key(self) -> Settings:
        if not self.secret_key:
            self.secret_key = _load_or_create_secret(Path(SECRET_FILE))
        return self


def _load_or_create_secret(path: Path) -> str:
    """Keep one generated key per working directory so tokens survive restarts."""
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    logger.warning("SECRET_KEY is not set: generated one and stored it in %s", path.resolve())
    return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
