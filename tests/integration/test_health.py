"""GET /healthz and /readyz: up, ready, and not ready while the database is unreachable.

The broker's side of /readyz (Redis killed, or frozen so it never answers) is in
test_redis_outage.py; the shutdown side (503 once SIGTERM arrives) in test_stream_lifecycle.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import asyncpg
import httpx

from tests.utils.db import postgres_admin_url
from tests.utils.server import ServerProcess

# A probe's timeout: the answer must come within it, even when a dependency is down.
PROBE_TIMEOUT = 1.5


async def probe(client: httpx.AsyncClient, path: str) -> tuple[int, dict[str, object]]:
    started = time.monotonic()
    response = await client.get(path, timeout=PROBE_TIMEOUT)
    assert time.monotonic() - started < PROBE_TIMEOUT
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json()


async def test_healthz_and_readyz_answer_without_credentials(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        assert await probe(client, "/healthz") == (200, {"status": "ok"})
        assert await probe(client, "/readyz") == (
            200,
            {"ready": True, "database": True, "broker": True},
        )


@contextlib.asynccontextmanager
async def database_unreachable(srv: ServerProcess) -> AsyncIterator[None]:
    """PostgreSQL: the database refuses connections and drops the open ones (an outage as
    the app sees it). SQLite has no server to stop: its schema is made unreadable."""
    url = srv.env["DATABASE_URL"]
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]

        def rename(old: str, new: str) -> None:
            with contextlib.closing(sqlite3.connect(path)) as db:
                db.execute(f"ALTER TABLE {old} RENAME TO {new}")
                db.commit()

        await asyncio.to_thread(rename, "alembic_version", "alembic_version_away")
        try:
            yield
        finally:
            await asyncio.to_thread(rename, "alembic_version_away", "alembic_version")
        return
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(postgres_admin_url(), timeout=10)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        try:
            yield
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        await admin.close()


async def test_readyz_is_503_while_the_database_is_unreachable_and_200_after(
    server_factory: Callable[..., ServerProcess],
) -> None:
    srv = await asyncio.to_thread(server_factory)
    async with httpx.AsyncClient(base_url=srv.base_url) as client:
        assert (await probe(client, "/readyz"))[0] == 200
        async with database_unreachable(srv):
            assert await probe(client, "/readyz") == (
                503,
                {"ready": False, "database": False, "broker": True},
            )
            assert await probe(client, "/healthz") == (200, {"status": "ok"})  # still alive
        async with asyncio.timeout(10):
            while (await probe(client, "/readyz"))[0] != 200:
                await asyncio.sleep(0.1)
