"""A fresh database per test server: a SQLite file or a PostgreSQL database, at the latest
schema unless asked for an empty one.

Migrating costs more than copying, so each run migrates once per backend and copies:
- PostgreSQL: a template database `salon_tpl_<hash of app/migrations>`, built under an
  advisory lock by the first run that needs it (then renamed to its name, so a half-built
  one is never used) and shared by every run of the same migrations, even two checkouts at
  once; each test database is `CREATE DATABASE salon_test_* TEMPLATE salon_tpl_*`. A template
  is marked as one (it can't be dropped by mistake, nobody connects to it); one of other
  migrations is dropped only when no run has used it for a day.
- SQLite: a migrated file in this run's own temporary directory, copied owner-only (0600,
  from the moment it exists, as the server makes its own).
A server still runs its migration at start: on a copy it finds nothing to do.

PostgreSQL being unreachable is an error, never a skip: CI must fail when the service is
missing. Point TEST_POSTGRES_URL at a server whose user may create databases.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import hashlib
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.private_files import create_owner_only
from app.db.migrate import MIGRATIONS, upgrade_database
from app.db.session import SQLITE_FILE_SUFFIXES, create_engine

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ("sqlite", "postgres")
TEMPLATE_PREFIX = "salon_tpl_"
BUILD_PREFIX = "salon_tplbuild_"  # a template being built; one left over is a crashed build's
# The advisory lock every run takes to build or clean templates (any fixed 64-bit number).
TEMPLATE_LOCK = 0x5A10_7E57
# A template of other migrations (another checkout's) is dropped once unused this long.
STALE_TEMPLATE_SECONDS = 24 * 3600
USED_AT = "salon tests template, last used at "  # its comment: the epoch second follows
T = TypeVar("T")

_lock = threading.Lock()  # fixtures may ask from several threads at once
_templates: dict[str, str] = {}  # backend -> this run's template (a database name, a path)


def postgres_admin_url() -> str:
    """The maintenance database the test databases are created from."""
    return os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def fresh_database_url(
    kind: str, tmp_path: Path, *, migrated: bool = True
) -> tuple[str, Callable[[], None]]:
    """Return (DATABASE_URL for the app, cleanup) for a new database of `kind`: at the
    latest schema (a copy of the run's template), or empty with `migrated=False` (for what
    migrates from nothing)."""
    if kind == "sqlite":
        return _fresh_sqlite(Path(tmp_path), migrated)
    if kind == "postgres":
        return _fresh_postgres(migrated)
    raise ValueError(f"unknown database kind {kind!r}; expected one of {BACKENDS}")


@asynccontextmanager
async def migrated_engine(kind: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The app's engine on a fresh database of `kind` at the latest schema, for tests that
    drive services in process (no server); dropped afterwards."""
    url, cleanup = await asyncio.to_thread(fresh_database_url, kind, tmp_path)
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        await asyncio.to_thread(cleanup)


@functools.cache
def migrations_hash() -> str:
    """Names and contents of every file under app/migrations: a change makes new templates."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(MIGRATIONS).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _template(kind: str, build: Callable[[], str]) -> str:
    with _lock:
        if kind not in _templates:
            _templates[kind] = build()
        return _templates[kind]


# ---------------------------------------------------------------------------- SQLite


def _fresh_sqlite(tmp_path: Path, migrated: bool) -> tuple[str, Callable[[], None]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"salon-{secrets.token_hex(4)}.db"
    if migrated:
        _copy_owner_only(Path(_sqlite_template()), path)

    def cleanup() -> None:
        for suffix in SQLITE_FILE_SUFFIXES:
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    return f"sqlite+aiosqlite:///{path}", cleanup


def _sqlite_template() -> str:
    path = _template("sqlite", _build_sqlite_template)
    if not Path(path).exists():  # something cleaned temporary files under the run: remake
        with _lock:
            _templates.pop("sqlite", None)
        path = _template("sqlite", _build_sqlite_template)
    return path


def _build_sqlite_template() -> str:
    folder = Path(tempfile.mkdtemp(prefix="salon-sqlite-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / f"template-{migrations_hash()}.db"
    # Alembic's env.py runs its own event loop: a thread keeps it off any caller's.
    _in_thread(upgrade_database, f"sqlite+aiosqlite:///{path}")
    leftovers = [s for s in SQLITE_FILE_SUFFIXES[1:] if Path(f"{path}{s}").exists()]
    assert not leftovers, f"the migrated template {path} left {leftovers}: a copy would lose them"
    return str(path)


def _copy_owner_only(source: Path, target: Path) -> None:
    """`source`'s bytes in a new file `target`, 0600 from its creation (it holds hashes)."""
    with source.open("rb") as src, os.fdopen(create_owner_only(target), "wb") as out:
        shutil.copyfileobj(src, out)


# ---------------------------------------------------------------------------- PostgreSQL


def _fresh_postgres(migrated: bool) -> tuple[str, Callable[[], None]]:
    admin_url = postgres_admin_url()
    name = f"salon_test_{secrets.token_hex(6)}"
    template = f' TEMPLATE "{_template("postgres", _postgres_template)}"' if migrated else ""
    _run(_execute(admin_url, f'CREATE DATABASE "{name}"{template}'))

    def cleanup() -> None:
        _run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return _app_url(admin_url, name), cleanup


def _app_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", parts.query, ""))


def _postgres_template() -> str:
    """The template of these migrations, built if no run has built it yet."""
    return _run(_ensure_postgres_template(postgres_admin_url()), timeout=180)


async def _ensure_postgres_template(admin_url: str) -> str:
    name = TEMPLATE_PREFIX + migrations_hash()
    conn = await _connect(admin_url)
    try:
        # Held until this connection closes; another run building waits here, then finds it.
        await conn.execute("SELECT pg_advisory_lock($1)", TEMPLATE_LOCK, timeout=150)
        rows = await conn.fetch(
            "SELECT datname, shobj_description(oid, 'pg_database') AS note FROM pg_database "
            "WHERE datname LIKE $1 OR datname LIKE $2",
            TEMPLATE_PREFIX.replace("_", r"\_") + "%",
            BUILD_PREFIX.replace("_", r"\_") + "%",
        )
        found = {row["datname"]: row["note"] or "" for row in rows}
        for other, note in found.items():
            if other.startswith(BUILD_PREFIX):  # only built under the lock: a crashed build
                await conn.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)', timeout=60)
            elif other != name and _unused_for(note) > STALE_TEMPLATE_SECONDS:
                await _drop_template(conn, other)
        if name not in found:
            await _build_postgres_template(conn, admin_url, name)
        await conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{USED_AT}{int(time.time())}'")
        return name
    finally:
        await conn.close(timeout=10)


async def _build_postgres_template(conn: asyncpg.Connection, admin_url: str, name: str) -> None:
    building = f"{BUILD_PREFIX}{migrations_hash()}_{secrets.token_hex(4)}"
    await conn.execute(f'CREATE DATABASE "{building}"', timeout=60)
    await asyncio.to_thread(upgrade_database, _app_url(admin_url, building))
    # Complete: only now does it get the name runs look for, and become a template.
    await conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"', timeout=60)
    await conn.execute(f'ALTER DATABASE "{name}" IS_TEMPLATE true ALLOW_CONNECTIONS false')


async def _drop_template(conn: asyncpg.Connection, name: str) -> None:
    """Drop an unused template; one being copied right now stays (its copy holds a lock)."""
    try:
        await conn.execute(f'ALTER DATABASE "{name}" IS_TEMPLATE false', timeout=10)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"', timeout=10)
    except (TimeoutError, asyncpg.PostgresError):
        await conn.execute(f'ALTER DATABASE "{name}" IS_TEMPLATE true', timeout=10)


def _unused_for(note: str) -> float:
    """Seconds since a template's comment says it was last used (a day and more if unknown)."""
    try:
        return time.time() - int(note.removeprefix(USED_AT))
    except ValueError:
        return float("inf")


async def _connect(admin_url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(admin_url, timeout=10)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(
            f"PostgreSQL is unreachable at {admin_url} ({exc!r}); the postgres backend tests "
            "need it: start it, or set TEST_POSTGRES_URL"
        ) from exc


async def _execute(admin_url: str, statement: str) -> None:
    conn = await _connect(admin_url)
    try:
        await conn.execute(statement, timeout=30)
    finally:
        await conn.close(timeout=10)


def _in_thread(function: Callable[..., T], *args: Any, timeout: float = 60.0) -> T:
    """`function(*args)` in a worker thread, its result or its exception.

    Callers may be sync fixtures or code inside the test's running loop; a thread keeps
    both away from the session loop pytest-asyncio owns (Alembic and `asyncio.run` make
    loops of their own).
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result(timeout)


def _run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run `coro` to completion on its own loop in a worker thread."""
    return _in_thread(asyncio.run, coro, timeout=timeout)
