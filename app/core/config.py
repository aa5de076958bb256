"""Settings from the environment; handed to create_app, never read as an import-time global."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.private_files import create_owner_only, keep_owner_only

logger = logging.getLogger(__name__)

SECRET_FILE = ".salon-secret"
# The browsers' push services (Chrome and Edge's FCM, Firefox, Safari, Windows' WNS).
PUSH_SERVICES = (
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "*.push.apple.com",
    "*.notify.windows.com",
)
# HS256 keys shorter than its 256-bit output can be brute-forced offline from one token.
MIN_SECRET_KEY_BYTES = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    database_url: str = "sqlite+aiosqlite:///./salon.db"
    # The pool of database connections (app/db/session.py): kept open under steady load (the
    # benchmark saw a connect and a close per request dominate single POSTs), opened past it
    # in bursts, and how long a request waits for one when all are taken: then 503 with
    # Retry-After (SQLAlchemy's own 30 s outlasted every client's patience).
    database_pool_size: int = Field(default=25, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_timeout: float = Field(default=5, gt=0)
    broker_url: str = "memory://"
    # Prefix of every Redis channel name, so deployments (and test runs) sharing a Redis don't mix.
    broker_prefix: str = Field(default="salon", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    secret_key: str = ""
    access_token_expire_minutes: float = Field(default=60, gt=0)
    sse_ping_interval: float = Field(default=30, gt=0)
    sse_retry_ms: int = Field(default=3000, ge=0)
    # A client that leaves this many events unread is disconnected (it reconnects and catches up).
    sse_max_pending_events: int = Field(default=1000, ge=1)
    # ...or this many bytes of them (1,000 notifications with big extra_data would be 16 MB).
    sse_max_pending_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # A stream (live or replaying) whose client takes no bytes for this many seconds while
    # bytes wait for it is closed as a slow consumer (it reconnects with Last-Event-ID).
    sse_write_timeout: float = Field(default=30, gt=0)
    # On SIGTERM, open streams end spread over this many seconds (clients reconnect elsewhere).
    sse_drain_seconds: float = Field(default=5, ge=0)
    # How often each instance reads past its delivery cursor in the database, whatever the bus says.
    catch_up_interval: float = Field(default=1.0, gt=0)
    # How often each instance announces its connections to the others (for the stats).
    presence_interval: float = Field(default=0.5, gt=0)
    # Seconds between two samples of each instance's activity (the operations page's charts).
    ops_sample_interval: float = Field(default=5, ge=0.1, le=60)
    # At most this many seconds between full garbage collections (0: Python's own schedule).
    gc_full_collect_interval: float = Field(default=300, ge=0)
    # Seconds between collections of the whole heap, frozen objects included (0: never).
    gc_whole_heap_interval: float = Field(default=21600, ge=0)
    notification_retention_days: float = Field(default=30, gt=0)
    retention_interval_seconds: float = Field(default=3600, gt=0)
    first_superadmin_email: str | None = None
    first_superadmin_password: str | None = None
    log_level: str = "info"

    # Browser access
    # Origins (comma separated) whose pages may call the API and open streams; "*" lets any
    # origin in, but then without credentials (cookies). Empty: same-origin only.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Stream tokens (`?token=` on the streams) outlive reconnects; they open streams, nothing else.
    stream_token_expire_minutes: float = Field(default=60, gt=0)
    session_cookie_name: str = Field(default="salon_session", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    session_expire_minutes: float = Field(default=12 * 60, gt=0)
    session_cookie_samesite: Literal["lax", "strict"] = "lax"
    # Unset: Secure when the request came over HTTPS (as uvicorn's proxy headers tell it).
    session_cookie_secure: bool | None = None

    # Limits and logs
    # "plain" (one readable line per event) or "json" (one JSON object per line, for collectors).
    log_format: Literal["plain", "json"] = "plain"
    # Every stream ends after this long (a little less, spread so clients don't reconnect in
    # step), whatever its credential says; the client reconnects and is checked again.
    sse_max_stream_seconds: float = Field(default=900, gt=0)
    # Streams (SSE and WebSocket) open at once, over every instance; 0 turns a limit off.
    # Per principal: tabs and devices, plus streams of a client gone without a word that the
    # server has not noticed yet. Per salon: its admins' streams (staff screens, phones).
    limit_streams_per_principal: int = Field(default=20, ge=0)
    limit_streams_per_salon: int = Field(default=200, ge=0)
    # Streams one principal may open per window: room for EventSource reconnecting every few
    # seconds in each tab through an outage, none for a client reconnecting in a tight loop.
    limit_stream_opens: int = Field(default=120, ge=0)
    limit_stream_opens_window: float = Field(default=60, gt=0)
    # Stats requests per caller and window: a dashboard polling every second uses a tenth.
    limit_stats_requests: int = Field(default=600, ge=0)
    limit_stats_window: float = Field(default=60, gt=0)
    # Failed logins (POST /auth/login, /auth/session) per account and client address together,
    # per account from every address, and per client address, and registrations per client
    # address, each per LIMIT_AUTH_WINDOW seconds; past one, 429 even for the right password.
    # An attempt counts before its password is checked (taken back when it is right). The
    # client address is the socket's, or the one a proxy of TRUSTED_PROXIES puts in
    # X-Forwarded-For.
    limit_login_failures_per_account_address: int = Field(default=10, ge=0)
    limit_login_failures: int = Field(default=100, ge=0)
    limit_login_failures_per_address: int = Field(default=50, ge=0)
    limit_registrations_per_address: int = Field(default=20, ge=0)
    limit_auth_window: float = Field(default=300, gt=0)
    # Sign-ins of one account being checked at once in this instance (429 past it), and
    # password checks and hashes waiting for the hashing pool, of every caller (503 past it,
    # rather than a wait): a crowd of guesses can't queue a real login behind it.
    limit_login_pending: int = Field(default=4, ge=0)
    password_hash_queue: int = Field(default=16, ge=0)
    # Addresses or networks (comma separated) whose X-Forwarded-For / X-Forwarded-Proto are
    # believed (uvicorn's forwarded_allow_ips): the proxy in front, and nothing else.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["127.0.0.1"])
    # A request's line and headers must arrive within this many seconds (and be at most
    # 64 KiB): past either the connection is closed.
    http_header_timeout: float = Field(default=10, gt=0)
    # A request body that goes this many seconds without a byte, or that averages under
    # HTTP_MIN_BODY_RATE bytes a second once its first 10 s (or HTTP_BODY_TIMEOUT, if
    # shorter) have passed, ends its connection: 408 if the answer hasn't begun. 0: no rate.
    http_body_timeout: float = Field(default=30, gt=0)
    http_min_body_rate: int = Field(default=1024, ge=0)
    # An answer the client takes no bytes of for this many seconds, while bytes wait for
    # it, ends its connection (streams follow SSE's slow-consumer rules instead).
    http_write_timeout: float = Field(default=30, gt=0)
    # The front door (app/api/front_door.py) answers the streams, the creates and the reads
    # ahead of FastAPI with the same readers; off, FastAPI answers every request (the
    # parity tests compare the two).
    front_door: bool = True
    # Largest request body accepted (413 past it); a full batch of 500 notifications fits.
    max_request_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Largest `extra_data` of a notification, serialized (422 past it): every stored byte is
    # read back by lists and replays and held in every recipient's stream backlog.
    max_extra_data_bytes: int = Field(default=16384, ge=2)

    # Web Push (app/push/): browsers that are closed
    # PEM or base64url raw P-256 key; empty: generated once into .salon-vapid, with a warning.
    vapid_private_key: str = ""
    vapid_subject: str = Field(default="mailto:admin@localhost", pattern=r"^(mailto:|https:).+")
    # A recipient whose streams got nothing within this many seconds of creation is pushed.
    push_delay_seconds: float = Field(default=5, ge=0)
    push_ttl_seconds: int = Field(default=86400, ge=0)
    push_max_attempts: int = Field(default=5, ge=1)
    # Hosts (comma separated) push endpoints may be at: browser push services; `*.x` for the
    # subdomains of x, `*` for any public host. Always https:// on port 443.
    push_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(PUSH_SERVICES)
    )
    # Tests and private deployments only: lets endpoints be http://, on any host, port or
    # address (PUSH_ALLOWED_HOSTS and the public-address rule are not applied).
    push_allow_private_endpoints: bool = False
    # Pushes sent per LIMIT_PUSHES_WINDOW seconds for one salon's notifications (0: no limit);
    # the rest wait in the outbox for the next window. It bounds what one salon's admins can
    # make the server send: a batch of 500 notifications to admins with 10 browsers each.
    limit_pushes_per_salon: int = Field(default=600, ge=0)
    limit_pushes_window: float = Field(default=60, gt=0)
    # Requests to push services at once. httpx's pool scans every connection per request:
    # 20 measured 2.2 ms of CPU per push, 50 twice that (benchmarks/push_throughput.py).
    push_concurrency: int = Field(default=20, ge=1)
    push_attempt_timeout: float = Field(default=10, gt=0)
    push_poll_interval: float = Field(default=0.5, gt=0)
    push_max_subscriptions_per_user: int = Field(default=10, ge=1)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        value = _comma_list(value)
        if isinstance(value, list):
            return [str(origin).rstrip("/") for origin in value]
        return value

    @field_validator("push_allowed_hosts", mode="before")
    @classmethod
    def _split_push_hosts(cls, value: object) -> object:
        value = _comma_list(value)
        if isinstance(value, list):
            return [str(host).rstrip(".").lower() for host in value]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        value = _comma_list(value)
        if isinstance(value, list):
            for entry in value:
                ipaddress.ip_network(str(entry), strict=False)  # ValueError names the bad one
        return value

    @model_validator(mode="after")
    def _ensure_secret_key(self) -> Settings:
        if not self.secret_key:
            self.secret_key = _load_or_create_secret(Path(SECRET_FILE))
        return self


def _comma_list(value: object) -> object:
    """A list from an environment value written `a,b` or `a b`; anything else as it is."""
    if isinstance(value, str):
        return [part for part in value.replace(" ", ",").split(",") if part]
    return value


def weak_secret_key(settings: Settings) -> str | None:
    """Why SECRET_KEY can't sign tokens outside a demo, or None when it can."""
    size = len(settings.secret_key.encode())
    if size < MIN_SECRET_KEY_BYTES:
        return (
            f"SECRET_KEY is {size} bytes; at least {MIN_SECRET_KEY_BYTES} are needed "
            "(unset it to have one generated, or: python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')"
        )
    return None


def _load_or_create_secret(path: Path) -> str:
    """Keep one generated key per working directory so tokens survive restarts. The file is
    created readable by its owner only, and only if absent: of two processes starting at
    once, both end up with the one key."""
    key = secrets.token_urlsafe(48)
    try:
        fd = create_owner_only(path)
    except FileExistsError:
        keep_owner_only(path)
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(key)
    logger.warning("SECRET_KEY is not set: generated one and stored it in %s", path.resolve())
    return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
