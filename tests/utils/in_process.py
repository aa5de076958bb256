"""The app under uvicorn with our protocol, on the test's own loop: for tests that must reach
inside the server (hold the GC off, plant a bug with monkeypatch)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn

from app.core.config import Settings
from app.db.migrate import upgrade_database
from app.main import create_app
from app.server import SalonHttpProtocol, TransportAccess
from tests.utils.server import free_port


@asynccontextmanager
async def in_process_server(workdir: Path, secret: str, **settings: Any) -> AsyncIterator[int]:
    """A started server on a fresh SQLite database in `workdir`; yields its port. uvicorn's
    log records reach the root logger (and pytest's caplog)."""
    url = f"sqlite+aiosqlite:///{workdir / 'in-process.db'}"
    await asyncio.to_thread(upgrade_database, url)
    app = create_app(Settings(database_url=url, secret_key=secret, **settings))
    port = free_port()
    config = uvicorn.Config(
        TransportAccess(app),
        host="127.0.0.1",
        port=port,
        http=SalonHttpProtocol,
        lifespan="on",
        log_config=None,
    )
    server = uvicorn.Server(config)
    serving = asyncio.get_running_loop().create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                await asyncio.sleep(0.05)
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30)
