"""The PostgreSQL pool: connections dropped by the server while idle are replaced before
use (no request fails after a database restart), without checking busy ones each time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import session as db_session
from app.db.base import utcnow
from app.db.repositories.notification_groups import PostgresGroupInsert
from app.db.session import create_engine, create_session_factory
from app.services.writer import NOTIFICATION_WRITE_LOCK
from tests.utils.db import fresh_database_url, migrated_engine, postgres_admin_url
from tests.utils.rows import add_salon


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url, cleanup = fresh_database_url("postgres", tmp_path)
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        await asyncio.to_thread(cleanup)


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(engine: AsyncEngine) -> None:
    """What a database restart does to the pool's connections."""
    admin = await asyncpg.connect(postgres_admin_url(), timeout=10)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            urlsplit(engine.url.render_as_string()).path.lstrip("/"),
        )
    finally:
        await admin.close()


async def test_a_connection_dropped_while_idle_is_replaced_before_use(engine, monkeypatch):
    monkeypatch.setattr(db_session, "PING_AFTER_IDLE_SECONDS", 0.2)
    first = await backend_pid(engine)
    await terminate(engine)
    await asyncio.sleep(0.3)  # idle long enough to be checked
    assert await backend_pid(engine) != first  # a new connection, and no error


async def test_a_connection_in_steady_use_is_not_checked_each_time(engine, monkeypatch):
    monkeypatch.setattr(db_session, "PING_AFTER_IDLE_SECONDS", 60)
    await backend_pid(engine)
    await terminate(engine)
    # Not checked: the dead connection is found by the query itself (which the pool then
    # replaces for the next one).
    with pytest.raises(DBAPIError):  # "connection is closed", or asyncpg's state error
        await backend_pid(engine)
    await backend_pid(engine)


async def test_after_a_restart_one_notification_write_fails_not_one_per_connection(
    tmp_path, monkeypatch
):
    """The writer's group insert sends its statement through asyncpg itself; a connection
    found dead there replaces the whole pool (as SQLAlchemy's own disconnect handling
    does), so the next write gets a fresh connection, not the next dead one."""
    monkeypatch.setattr(db_session, "PING_AFTER_IDLE_SECONDS", 60)  # busy: never pinged
    async with migrated_engine("postgres", tmp_path) as engine:
        salon = await add_salon(create_session_factory(engine))
        async with engine.connect() as a, engine.connect() as b, engine.connect() as c:
            for connection in (a, b, c):  # three connections in the pool
                await connection.execute(text("SELECT 1"))
        insert = PostgresGroupInsert(engine)
        row = ("t", "title", "m", "salon", None, salon, None, None, "normal", None)
        await terminate(engine)
        with pytest.raises(Exception) as lost:
            await insert.insert([row], utcnow(), NOTIFICATION_WRITE_LOCK)
        assert not isinstance(lost.value, asyncpg.PostgresError), lost.value  # not the server's
        [stored] = await insert.insert([row], utcnow(), NOTIFICATION_WRITE_LOCK)
        assert stored > 0
