"""A fresh, empty database per test server: a SQLite file or a PostgreSQL database.

PostgreSQL being unreachable is an error, never a skip: CI must fail when the service is
missing. Point TEST_POSTGRES_URL at a server whose user may create databases.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.migrate import upgrade_database
from app.db.session import create_engine

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ("sqlite", "postgres")
T = TypeVar("T")


def postgres_admin_url() -> str:
    """The maintenance database the test databases are created from."""
    return os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def fresh_database_url(kind: str, tmp_path: Path) -> tuple[str, Callable[[], None]]:
    """Return (DATABASE_URL for the app, cleanup) for an empty database of `kind`."""
    if kind == "sqlite":
        return _fresh_sqlite(Path(tmp_path))
    if kind == "postgres":
        return _fresh_postgres()
    raise ValueError(f"unknown database kind {kind!r}; expected one of {BACKENDS}")


@asynccontextmanager
async def migrated_engine(kind: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The app's engine on a fresh database of `kind` at the latest schema, for tests that
    drive services in process (no server); dropped afterwards."""
    url, cleanup = fresh_database_url(kind, tmp_path)
    # Alembic's env.py runs its own event loop: keep it off the test's.
    migrate = threading.Thread(target=upgrade_database, args=(url,))
    migrate.start()
    await asyncio.to_thread(migrate.join)
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        cleanup()


def _fresh_sqlite(tmp_path: Path) -> tuple[str, Callable[[], None]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"salon-{secrets.token_hex(4)}.db"

    def cleanup() -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    return f"sqlite+aiosqlite:///{path}", cleanup


def _fresh_postgres() -> tuple[str, Callable[[], None]]:
    admin_url = postgres_admin_url()
    name = f"salon_test_{secrets.token_hex(6)}"
    _run(_execute(admin_url, f'CREATE DATABASE "{name}"'))
    parts = urlsplit(admin_url)
    app_url = urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", parts.query, ""))

    def cleanup() -> None:
        _run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return app_url, cleanup


async def _execute(admin_url: str, statement: str) -> None:
    try:
        conn = await asyncpg.connect(admin_url, timeout=10)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(
            f"PostgreSQL is unreachable at {admin_url} ({exc!r}); the postgres backend tests "
            "need it: start it, or set TEST_POSTGRES_URL"
        ) from exc
    try:
        await conn.execute(statement, timeout=30)
    finally:
        await conn.close(timeout=10)


def _run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run `coro` to completion on its own loop in a worker thread.

    Callers may be sync fixtures or code inside the test's running loop; a thread keeps
    both away from the session loop pytest-asyncio owns.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout)
