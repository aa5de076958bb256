"""Live delivery over HTTP: the SSE response, and the loop it shares with the WebSocket fallback.

Per stream there is the response object, the hub's Connection, the request's own task
(the writer) and one task watching `receive()`: under uvicorn `send()` ignores a client
that has left, so only `http.disconnect` tells us it is gone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import suppress
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.core.logging import log_event
from app.core.metrics import Metrics
from app.core.notification_manager import Connection, NotificationManager, Subscription
from app.core.sse import json_frame, now_iso, retry_frame

logger = logging.getLogger(__name__)

Replay = AsyncIterator[tuple[bytes, int, int]]  # chunks of frames: bytes, last id, how many

HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


async def pump(
    conn: Connection,
    expires_at: float,
    watch: Coroutine[Any, Any, None],
    write: Callable[[bytes], Awaitable[None]],
    metrics: Metrics,
) -> None:
    """Write what the hub queues until the connection is closed: by the client going away
    (`watch` returns), by its credential expiring, by falling too far behind, or by shutdown."""
    loop = asyncio.get_running_loop()
    watcher = loop.create_task(_close_when_done(watch, conn))
    # The stream ends with its credential; the client reconnects with a fresh one.
    expiry = loop.call_later(expires_at - time.time(), conn.close, "expired")
    log_opened(conn.subscription)
    try:
        while (chunk := await conn.take()) is not None:
            conn.writing = True
            await write(chunk)
            conn.writing = False
            if conn.chunk_notes:
                metrics.delivered(conn.chunk_notes, conn.chunk_oldest)
    finally:
        expiry.cancel()
        watcher.cancel()
        log_closed(conn)


def _who(sub: Subscription) -> dict[str, Any]:
    return {"kind": sub.kind, "user_id": sub.user_id, "salon_id": sub.salon_id or sub.salon_filter}


def log_opened(sub: Subscription) -> None:
    if logger.isEnabledFor(logging.INFO):
        log_event(logger, "stream_opened", f"stream opened: {sub.kind} {sub.user_id}", **_who(sub))


def log_closed(conn: Connection) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    sub = conn.subscription
    duration, reason = time.monotonic() - conn.opened_at, conn.close_reason or "error"
    log_event(
        logger,
        "stream_closed",
        f"stream closed: {sub.kind} {sub.user_id} after {duration:.1f} s, "
        f"{conn.events_sent} events, {reason}",
        **_who(sub),
        duration_s=round(duration, 3),
        events_sent=conn.events_sent,
        reason=reason,
    )


async def _close_when_done(watch: Coroutine[Any, Any, None], conn: Connection) -> None:
    with suppress(Exception):
        await watch
    conn.close("client_gone")


async def replay_then_go_live(
    conn: Connection,
    replay: Replay | None,
    write: Callable[[bytes], Awaitable[None]],
    metrics: Metrics,
) -> bool:
    """Write what the client missed, then release the live notifications held meanwhile
    (the connection was registered holding them, so none falls in between). False if the
    replay failed: the stream then ends and the client retries."""
    if replay is None:
        return True
    through = 0
    try:
        async for chunk, last_id, count in replay:
            await write(chunk)
            through = max(through, last_id)
            metrics.replayed.inc(count)
    except Exception:
        logger.exception("replay failed; ending the stream so the client retries")
        return False
    conn.release(through)
    return True


ABORT_EXTENSION = "salon.transport_abort"


def transport_abort(scope: Scope) -> Callable[[], None] | None:
    """The server's way to drop this connection's socket, if it gave one (see app.server)."""
    abort = scope.get("extensions", {}).get(ABORT_EXTENSION)
    return abort if callable(abort) else None


def hello_frame(subscription: Subscription, retry_ms: int) -> bytes:
    connected = {**subscription.hello(), "server_time": now_iso()}
    return retry_frame(retry_ms) + json_frame("connected", connected)


class EventStreamResponse(Response):
    """A Response so FastAPI passes it through untouched; it writes its own headers and body."""

    media_type = "text/event-stream"

    def __init__(
        self,
        manager: NotificationManager,
        subscription: Subscription,
        retry_ms: int,
        expires_at: float,
        replay: Replay | None = None,
    ) -> None:
        self.manager = manager
        self.subscription = subscription
        self.retry_ms = retry_ms
        self.expires_at = expires_at
        self.replay = replay
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def write(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        with self.manager.connect(self.subscription, self.replay is not None) as conn:
            conn.abort = transport_abort(scope)
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            await write(hello_frame(self.subscription, self.retry_ms))
            metrics = self.manager.metrics
            if await replay_then_go_live(conn, self.replay, write, metrics):
                await pump(conn, self.expires_at, watch(), write, metrics)
        if conn.close_reason != "client_gone":
            with suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
