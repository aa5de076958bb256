"""A stream over ASGI: the SSE response the FastAPI routes return.

The direct path (direct.py) takes most streams before ASGI; this one serves the rest (a
session cookie, a browser of another origin, HTTP/1.0, another ASGI server). Per stream
there is the request's own task, pumping the session, and one task watching `receive()`:
under uvicorn `send()` ignores a client that has left, so only `http.disconnect` tells.
"""

from __future__ import annotations

import asyncio
import fcntl
import sys
import termios
from contextlib import suppress
from typing import cast

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from app.api.errors import error_response
from app.core.connection import CloseReason, Subscription
from app.core.security import Principal
from app.services.errors import LimitExceeded
from app.streams.session import StreamSession
from app.streams.shared import Streams

HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
TRANSPORT_EXTENSION = "salon.transport"


def socket_of(scope: Scope) -> asyncio.WriteTransport | None:
    """The server's transport of this connection, if it gave it (see app.server): to drop
    the socket of a stream stuck on a client that stopped reading, and to see what waits
    for that client."""
    transport = scope.get("extensions", {}).get(TRANSPORT_EXTENSION)
    return cast(asyncio.WriteTransport, transport) if transport is not None else None


def socket_unsent(socket: asyncio.BaseTransport | None) -> int:
    """Bytes waiting for the client: in the transport's buffer and in its socket's send
    queue (the kernel's, up to megabytes: SIOCOUTQ, sent but not yet acknowledged too)."""
    if socket is None:
        return 0
    waiting = cast(asyncio.WriteTransport, socket).get_write_buffer_size()
    sock = socket.get_extra_info("socket")
    if sock is not None:
        with suppress(OSError, ValueError):  # closed meanwhile, or not a TCP socket
            queue = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
            waiting += int.from_bytes(queue, sys.byteorder, signed=True)
    return waiting


async def end_when_gone(session: StreamSession, receive: Receive, disconnect: str) -> None:
    """A stream's watcher: reads what the client sends until it disconnects."""
    with suppress(Exception):
        while (await receive())["type"] != disconnect:
            pass
    session.end("client_gone")


class EventStreamResponse(Response):
    """A Response so FastAPI passes it through untouched; it writes its own headers and body
    as the Transport of a StreamSession."""

    media_type = "text/event-stream"
    driven = False

    def __init__(
        self,
        streams: Streams,
        principal: Principal,
        subscription: Subscription,
        last_event_id: int | None,
    ) -> None:
        self.streams = streams
        self.principal = principal
        self.subscription = subscription
        self.last_event_id = last_event_id
        self.status_code = 200
        self.background = None
        self._end_body = False  # set when the session ends the stream (not the client)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._scope, self._send = scope, send
        self._socket = socket_of(scope)
        session = StreamSession(self.streams, self)
        watch = end_when_gone(session, receive, "http.disconnect")
        watcher = asyncio.get_running_loop().create_task(watch)
        try:
            await session.run(self.principal, self.subscription, self.last_event_id)
        finally:
            watcher.cancel()
        if self._end_body:
            with suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    # Transport.

    async def refuse(self, exc: LimitExceeded) -> None:
        response = error_response(self._scope, exc, self.streams.metrics)
        await response(self._scope, _no_receive, self._send)

    async def start(self, hello: bytes) -> None:
        await self._send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await self.write_when_ready(hello)

    async def write_when_ready(self, data: bytes) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    def end(self, reason: CloseReason | None) -> None:
        self._end_body = True  # ended once the session's task is back in __call__

    def abort(self) -> None:
        if self._socket is not None:
            self._socket.abort()

    def unsent(self) -> int:
        return socket_unsent(self._socket)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
