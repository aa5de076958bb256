"""Running the app under uvicorn so that open streams end when the server is asked to stop."""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from fastapi import FastAPI


class StreamingServer(uvicorn.Server):
    """uvicorn waits for open responses before shutting down; SSE responses never end by
    themselves, so end them first (each writes what it has queued, then closes)."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.fastapi_app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = self.fastapi_app.state
        state.shutting_down = True  # /readyz fails from now on
        manager = getattr(state, "manager", None)
        if manager is not None:
            await manager.drain(state.settings.sse_drain_seconds)
            await manager.stop()
        await super().shutdown(sockets)


def run(app: FastAPI, host: str, port: int, log_level: str, **options: Any) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        lifespan="on",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=15,
        **options,
    )
    StreamingServer(config, app).run()
