"""Engine and session factory; nothing connects until first use."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

from app.core.config import Settings
from app.core.private_files import create_owner_only, keep_owner_only

# What a checkout raises past DATABASE_POOL_TIMEOUT (the pool's own, not asyncio's).
PoolTimeout = exc.TimeoutError
# The engine's pool options and the settings that give them.
POOL_SETTINGS = {
    "pool_size": "database_pool_size",
    "max_overflow": "database_max_overflow",
    "pool_timeout": "database_pool_timeout",
}
# A pooled connection left idle this long is checked (one round trip) before it is used
# again, so that a database restart costs no request. pool_pre_ping would check it at every
# checkout, busy or not: on asyncpg three round trips (BEGIN, the ping, ROLLBACK), which
# were most of a single notification's database time.
PING_AFTER_IDLE_SECONDS = 5.0
# Seconds an SQLite connection waits for another's write lock before giving up.
SQLITE_BUSY_TIMEOUT = 30
# The files of one SQLite database: itself, its WAL and shared-memory index, and the
# rollback journal it has for a moment before WAL is switched on.
SQLITE_FILE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def create_engine(database_url: str, settings: Settings | None = None) -> AsyncEngine:
    """The engine of `database_url`, its pool as `settings` say (DATABASE_POOL_SIZE,
    DATABASE_MAX_OVERFLOW, DATABASE_POOL_TIMEOUT; their defaults without). A file-backed
    SQLite gets the same queue pool as PostgreSQL, so the same bound on the wait."""
    fields = Settings.model_fields
    pool: dict[str, Any] = {
        option: getattr(settings, name) if settings else fields[name].default
        for option, name in POOL_SETTINGS.items()
    }
    if database_url.startswith("sqlite"):
        keep_sqlite_private(database_url)
        engine = create_async_engine(
            database_url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT},
            hide_parameters=True,
            **pool,
        )
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    # hide_parameters: a database error's log line must not carry emails or password hashes.
    engine = create_async_engine(database_url, hide_parameters=True, **pool)
    event.listen(engine.sync_engine, "checkin", _note_return)
    event.listen(engine.sync_engine, "checkout", _ping_if_idle)
    return engine


def keep_sqlite_private(database_url: str) -> None:
    """An SQLite database's files (password hashes) readable by their owner only, before
    anything opens it: created empty and 0600 when absent (SQLite would make it 0644, and
    gives its -wal and -shm the database file's mode), made so when found readable by others."""
    url = make_url(database_url)
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if url.query.get("uri"):  # a `file:` URI: SQLite's to read, a memory database or not
        return
    path = Path(database)
    with contextlib.suppress(FileExistsError):
        os.close(create_owner_only(path))  # an empty file is an empty database to SQLite
    for suffix in SQLITE_FILE_SUFFIXES:
        keep_owner_only(path.with_name(path.name + suffix))


def _note_return(_dbapi_connection: Any, record: Any) -> None:
    record.info["returned_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    returned_at = record.info.get("returned_at")
    if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE_SECONDS:
        return  # new, or in use a moment ago
    try:
        dbapi_connection.ping()
    except Exception as error:  # the pool replaces a connection that fails this way
        raise exc.DisconnectionError(str(error)) from error


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Every SQLite connection's settings: the pool's, the notification writer's and the
    read threads'."""
    # WAL lets readers go on while one writer commits; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
