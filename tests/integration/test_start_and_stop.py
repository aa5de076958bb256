"""The app's lifespan, in process: every part it starts is stopped on the way out, and a
part that fails to start stops exactly the ones started before it (no task, timer or
connection left behind).

Real parts: a SQLite file and the machine's Redis. The failing part is real too: the
delivery sequencer reads the newest notification id at start, which fails on a database
that was never migrated (after the broker, the limiter and the hub have started).
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.db.migrate import upgrade_database
from app.main import create_fastapi_app
from app.runtime import runtime_of
from tests.utils.redis_server import REDIS_URL

BROKERS = {"memory": "memory://", "redis": REDIS_URL}


def settings_for(database: Path, broker: str) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{database}",
        broker_url=BROKERS[broker],
        broker_prefix=f"test-start-{secrets.token_hex(4)}",
        secret_key=secrets.token_hex(32),
        first_superadmin_email=None,
        first_superadmin_password=None,
    )


async def settle() -> set[asyncio.Task[object]]:
    """The tasks still alive besides this test's, after the loop has had a few turns."""
    for _ in range(5):
        await asyncio.sleep(0.01)
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()}


@pytest.mark.parametrize("broker", list(BROKERS))
async def test_a_failed_start_stops_what_had_started(tmp_path: Path, broker: str):
    app: FastAPI = create_fastapi_app(settings_for(tmp_path / "never-migrated.db", broker))
    before = await settle()
    with pytest.raises(Exception, match="no such table"):
        async with app.router.lifespan_context(app):
            pytest.fail("started on a database without its schema")
    assert await settle() == before  # the hub's ping timer, the broker's reader: all gone
    assert getattr(app.state, "runtime", None) is None


@pytest.mark.parametrize("broker", list(BROKERS))
async def test_a_started_app_stops_every_part_it_started(tmp_path: Path, broker: str):
    database = tmp_path / "app.db"
    await asyncio.to_thread(upgrade_database, f"sqlite+aiosqlite:///{database}")
    app: FastAPI = create_fastapi_app(settings_for(database, broker))
    before = await settle()
    async with app.router.lifespan_context(app):
        runtime = runtime_of(app)
        assert await settle() > before  # the parts' own tasks run while it is up
        assert not runtime.shutting_down
    assert runtime.shutting_down  # /readyz failed first, before the parts stopped
    assert await settle() == before
