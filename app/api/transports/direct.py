"""SSE streams written straight to the socket: no task, no coroutine, per open stream.

Under ASGI a stream is a task that lives as long as the stream, with its chain of
coroutines, a second task watching for the disconnect, and an awaited `send` per write:
measured, that was most of what an idle stream cost in memory, and a third of a
broadcast's CPU. Here the HTTP server (app.server) hands the socket of a stream request
it recognises to a `DirectTransport`, which becomes the socket's protocol: the hub wakes
the session, the flusher writes what is pending in one chunk per loop iteration, and the
socket's own callbacks tell the session when the client has gone or stopped reading.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from app.api.errors import error_response, internal_error_response, response_bytes
from app.api.transports.sse import HEADERS, socket_unsent
from app.core.connection import CloseReason, Subscription
from app.core.metrics import Metrics
from app.core.security import Principal
from app.services.errors import LimitExceeded
from app.streams.session import StreamSession
from app.streams.shared import StreamRequest, Streams

logger = logging.getLogger(__name__)

END_OF_BODY = b"0\r\n\r\n"  # the last chunk of a chunked response


def header_lines(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


# `connection: close`: the socket is closed when the stream ends, so no client may count on
# sending its next request on it.
STREAM_HEAD = b"HTTP/1.1 200 OK\r\n" + header_lines(
    [*HEADERS, (b"transfer-encoding", b"chunked"), (b"connection", b"close")]
)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def response_head(default_headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """The stream's status line and headers, with the server's own (date, server)."""
    return STREAM_HEAD + header_lines(default_headers) + b"\r\n"


def open_direct(
    socket: asyncio.Transport,
    request: StreamRequest,
    subscription: Subscription,
    default_headers: Sequence[tuple[bytes, bytes]],
    scope: dict[str, Any],
    streams: Streams,
) -> None:
    """The front door's handler of a stream on its socket (app/api/front_door.py): the
    socket's protocol becomes a DirectTransport, and one short task opens the session."""
    transport = DirectTransport(socket, response_head(default_headers), scope, streams.metrics)
    session = transport.session = StreamSession(streams, transport)
    socket.set_protocol(transport)
    streams.spawn(transport.opening(session, request.principal, subscription, request))


class DirectTransport(asyncio.Protocol):
    """One stream's socket, as its protocol once the request is read."""

    __slots__ = ("head", "metrics", "paused", "resumed", "scope", "session", "socket")

    driven = True

    def __init__(
        self, socket: asyncio.Transport, head: bytes, scope: dict[str, Any], metrics: Metrics
    ) -> None:
        self.socket = socket
        self.head = head  # the response head, sent with the hello; then b""
        self.scope: dict[str, Any] | None = scope  # for a refusal's log line; then None
        self.metrics = metrics
        self.session: StreamSession | None = None
        self.paused = False  # the client's socket buffer is full: write nothing until resumed
        self.resumed: asyncio.Future[None] | None = None  # awaited by a replay while paused

    # The session's side (Transport).

    @property
    def writable(self) -> bool:
        return not self.paused

    async def opening(
        self,
        session: StreamSession,
        principal: Principal,
        subscription: Subscription,
        request: StreamRequest,
    ) -> None:
        """The session's opening; a bug in it is logged with its traceback and answered
        with the app's JSON 500 while no answer has begun (else the socket is dropped)."""
        try:
            await session.open(principal, subscription, request.options.last_event_id)
        except Exception:
            logger.exception("a direct stream failed to open")
            if self.head:
                self._answer_once(response_bytes(internal_error_response()))
            else:
                self.abort()

    async def refuse(self, exc: LimitExceeded) -> None:
        """A whole JSON response, then close."""
        self._answer_once(response_bytes(error_response(self.scope or {}, exc, self.metrics)))

    def _answer_once(self, answer: bytes) -> None:
        self.head, self.scope = b"", None
        if not self.socket.is_closing():
            self.socket.write(answer)
            self.socket.close()

    async def start(self, hello: bytes) -> None:
        head, self.head, self.scope = self.head, b"", None
        self.socket.write(head + chunk(hello))

    def write(self, data: bytes) -> None:
        self.socket.write(chunk(data))

    async def write_when_ready(self, data: bytes) -> None:
        while self.paused and not self.socket.is_closing():
            self.resumed = asyncio.get_running_loop().create_future()
            await self.resumed
            self.resumed = None
        if not self.socket.is_closing():
            self.socket.write(chunk(data))

    def end(self, reason: CloseReason | None) -> None:
        if reason == "slow_consumer" or self.paused:
            self.abort()  # it stopped reading: a polite close would wait forever
        else:
            self.socket.write(END_OF_BODY)
            self.socket.close()

    def abort(self) -> None:
        self.socket.abort()

    def unsent(self) -> int:
        return socket_unsent(self.socket)

    # The socket's side (asyncio.Protocol).

    def data_received(self, data: bytes) -> None:
        pass  # an SSE client has nothing more to say; a pipelined request is not answered

    def connection_lost(self, exc: Exception | None) -> None:
        self._resume()
        if self.session is not None:
            self.session.end("client_gone")

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._resume()
        if self.session is not None:
            self.session.wake()

    def _resume(self) -> None:
        if self.resumed is not None and not self.resumed.done():
            self.resumed.set_result(None)
