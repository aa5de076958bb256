"""The SSE response: a lean ASGI callable that writes what the hub queues for one connection.

Per stream there is this object, the hub's Connection, the request's own task (the
writer) and one task watching `receive()`: under uvicorn `send()` ignores a client
that has left, so only `http.disconnect` tells us it is gone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.core.notification_manager import Connection, NotificationManager
from app.core.sse import json_frame, now_iso, retry_frame
from app.services.policy import Subscription

logger = logging.getLogger(__name__)

HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class EventStreamResponse(Response):
    """A Response so FastAPI passes it through untouched; it writes its own headers and body."""

    media_type = "text/event-stream"

    def __init__(
        self,
        manager: NotificationManager,
        subscription: Subscription,
        connected: dict[str, Any],
        retry_ms: int,
        expires_at: float,
    ) -> None:
        self.manager = manager
        self.subscription = subscription
        self.connected = connected
        self.retry_ms = retry_ms
        self.expires_at = expires_at
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sub = self.subscription
        with self.manager.connect(
            sub.kind,
            sub.user_id,
            sub.salon_id,
            sub.salon_filter,
            sub.filter.types,
            sub.filter.min_rank,
        ) as conn:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            hello = retry_frame(self.retry_ms) + json_frame(
                "connected", {**self.connected, "server_time": now_iso()}
            )
            await send({"type": "http.response.body", "body": hello, "more_body": True})
            loop = asyncio.get_running_loop()
            watcher = loop.create_task(_watch_disconnect(receive, conn))
            # The stream ends with its credential; the client reconnects with a fresh one.
            expiry = loop.call_later(self.expires_at - time.time(), conn.close, "expired")
            logger.info("stream opened: %s %s", sub.kind, sub.user_id)
            try:
                while (chunk := await conn.take()) is not None:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            finally:
                expiry.cancel()
                watcher.cancel()
                logger.info(
                    "stream closed: %s %s after %.1f s, %d events, %s",
                    sub.kind,
                    sub.user_id,
                    time.monotonic() - conn.opened_at,
                    conn.events_sent,
                    conn.close_reason or "error",
                )
        if conn.close_reason != "client_gone":
            with suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _watch_disconnect(receive: Receive, conn: Connection) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            conn.close("client_gone")
            return
