"""Running the app under uvicorn so that open streams end when the server is asked to stop."""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.streaming import ABORT_EXTENSION


class TransportAccess:
    """Outermost ASGI layer: hands a stream the means to abort its own socket.

    uvicorn's `send` is a method of an object holding the transport; the layers below
    (Starlette's middleware) wrap it, so it is taken here, before them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is not None:
                scope.setdefault("extensions", {})[ABORT_EXTENSION] = transport.abort
        await self.app(scope, receive, send)


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
        TransportAccess(app),
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
