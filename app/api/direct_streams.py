"""SSE streams written straight to the socket: no task, no coroutine, per open stream.

Under ASGI a stream is a task that lives as long as the stream, with its chain of
coroutines, a second task watching for the disconnect, and an awaited `send` per write:
measured, that was most of what an idle stream cost in memory, and a third of a
broadcast's CPU. Here the HTTP server (app.server) hands the socket of a stream request
it recognises to a `DirectStream`, which becomes the socket's protocol: the hub wakes it,
it writes what is pending in one chunk per loop iteration, and the socket's own callbacks
tell it when the client has gone or stopped reading. One short task opens the stream
(limits, replay) and ends. Any request it isn't sure of goes through FastAPI instead
(app.api.fast_streams, then the routes): same answers, more cost.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

from app.api.errors import error_response
from app.api.streaming import (
    HEADERS,
    Replay,
    hello_frame,
    log_closed,
    log_opened,
    replay_then_go_live,
)
from app.api.streams import StreamOpener
from app.core.connection import Connection, Subscription
from app.core.metrics import Metrics
from app.core.security import Principal
from app.services.errors import LimitExceeded
from app.services.limits import Lease

logger = logging.getLogger(__name__)

FLUSH_BATCH = 500  # streams written per loop callback
END_OF_BODY = b"0\r\n\r\n"  # the last chunk of a chunked response


# `connection: close`: the socket is closed when the stream ends, so no client may count on
# sending its next request on it.
def header_lines(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


STREAM_HEAD = b"HTTP/1.1 200 OK\r\n" + header_lines(
    [*HEADERS, (b"transfer-encoding", b"chunked"), (b"connection", b"close")]
)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


class Flusher:
    """Writes every stream woken during a loop iteration once, after it: a burst of
    notifications to one client becomes one write, and a broadcast one callback per
    FLUSH_BATCH streams (so that writing to 10,000 sockets never holds the loop for long).
    Deliveries are counted in the metrics per round, not per write."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.delivered: dict[float, int] = {}  # oldest creation time in a chunk -> notifications
        self._woken: list[DirectStream] = []
        self._scheduled = False

    def add(self, stream: DirectStream) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        self._woken.append(stream)

    def _flush(self) -> None:
        woken = self._woken
        batch, self._woken = woken[:FLUSH_BATCH], woken[FLUSH_BATCH:]
        for stream in batch:
            stream.queued = False
            stream.flush()
        delivered, self.delivered = self.delivered, {}
        for oldest, count in delivered.items():
            self.metrics.delivered(count, oldest)
        if self._woken:
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._scheduled = False


class Expiries:
    """When streams must end (their credential's expiry or the maximum lifetime), kept by
    the second: one timer for all of them instead of a timer handle per stream (four
    objects each for the garbage collector to walk)."""

    def __init__(self) -> None:
        self._due: dict[int, set[DirectStream]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._next = 0  # the second the timer is set for

    def add(self, stream: DirectStream, deadline: float) -> int:
        second = math.ceil(deadline)
        self._due.setdefault(second, set()).add(stream)
        if self._timer is None or second < self._next:
            self._schedule()
        return second

    def discard(self, stream: DirectStream, second: int) -> None:
        due = self._due.get(second)
        if due is not None:
            due.discard(stream)
            if not due:
                del self._due[second]

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._due:
            self._next = min(self._due)
            delay = max(0.0, self._next - time.time())
            self._timer = asyncio.get_running_loop().call_later(delay, self._expire)

    def _expire(self) -> None:
        now = time.time()
        for second in sorted(s for s in self._due if s <= now):
            for stream in self._due.pop(second):
                stream.expire()
        self._schedule()


class DirectStreams:
    """What every direct stream of the app shares: the opener's parts, the flusher, and the
    tasks that open streams and give limit slots back."""

    def __init__(self, opener: StreamOpener) -> None:
        self.opener = opener
        self.manager = opener.manager
        self.metrics = opener.manager.metrics
        self.flusher = Flusher(self.metrics)
        self.expiries = Expiries()
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class DirectStream(asyncio.Protocol):
    """One stream, as the protocol of its socket once the request is read."""

    __slots__ = (
        "conn",
        "expires",
        "finished",
        "lease",
        "paused",
        "queued",
        "resumed",
        "shared",
        "transport",
    )

    def __init__(self, shared: DirectStreams, transport: asyncio.Transport) -> None:
        self.shared = shared
        self.transport = transport
        self.conn: Connection | None = None
        self.lease: Lease | None = None
        self.expires = 0  # the second it is due in shared.expiries; 0 while not live
        self.paused = False  # the client's socket buffer is full: write nothing until resumed
        self.resumed: asyncio.Future[None] | None = None  # awaited by a replay while paused
        self.finished = False
        self.queued = False  # woken, and waiting for the flusher

    # The hub's side (Sink).

    def wake(self) -> None:
        if not self.queued and not self.finished:
            self.queued = True
            self.shared.flusher.add(self)

    def flush(self) -> None:
        conn = self.conn
        if conn is None or self.finished or (self.paused and conn.close_reason is None):
            return
        data = conn.take_nowait()
        if data:
            self.transport.write(chunk(data))
            if conn.chunk_notes:
                delivered = self.shared.flusher.delivered
                delivered[conn.chunk_oldest] = (
                    delivered.get(conn.chunk_oldest, 0) + conn.chunk_notes
                )
        if conn.close_reason is not None:
            self.finish()

    # The socket's side (asyncio.Protocol).

    def data_received(self, data: bytes) -> None:
        pass  # an SSE client has nothing more to say; a pipelined request is not answered

    def connection_lost(self, exc: Exception | None) -> None:
        if self.resumed is not None and not self.resumed.done():
            self.resumed.set_result(None)
        if self.conn is None:
            self.finished = True  # still opening: the opener sees it and gives up
            return
        self.conn.close("client_gone")
        self.finish()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.resumed is not None and not self.resumed.done():
            self.resumed.set_result(None)
        self.wake()

    # Opening and closing.

    async def open(
        self,
        principal: Principal,
        subscription: Subscription,
        replay: Replay | None,
        deadline: float,
        head: bytes,
        scope: dict[str, Any],
    ) -> None:
        """Take the limits' slots, register, answer, replay what was missed, go live."""
        shared = self.shared
        limiter = shared.opener.limiter
        if limiter is not None:
            salon_id = subscription.salon_id if subscription.kind == "admin" else None
            try:
                self.lease = await limiter.acquire_stream(principal, salon_id)
            except LimitExceeded as exc:
                self._refuse(error_response(scope, exc, shared.metrics))
                return
        if self.finished:  # the client left while the limits were checked
            self._give_back_slots()
            return
        conn = shared.manager.register(subscription, replay is not None, self)
        self.conn = conn
        retry_ms = shared.opener.settings.sse_retry_ms
        self.transport.write(head + chunk(hello_frame(subscription, retry_ms)))
        log_opened(subscription)
        if not await replay_then_go_live(conn, replay, self._write_when_ready, shared.metrics):
            self.finish()  # the replay failed: the stream ends, the client retries
            return
        if not self.finished:
            self.expires = shared.expiries.add(self, deadline)
            self.flush()

    async def _write_when_ready(self, data: bytes) -> None:
        """A replay's write: waits while the client's socket buffer is full."""
        while self.paused and not self.finished:
            self.resumed = asyncio.get_running_loop().create_future()
            await self.resumed
            self.resumed = None
        if not self.finished:
            self.transport.write(chunk(data))

    def expire(self) -> None:
        self.expires = 0
        if self.conn is not None:
            self.conn.close("expired")

    def finish(self) -> None:
        """Unregister and end the response, as the close reason asks; once."""
        conn = self.conn
        self.finished = True
        self.conn = None
        if self.expires:
            self.shared.expiries.discard(self, self.expires)
            self.expires = 0
        if conn is None:
            return
        self.shared.manager.unregister(conn)
        reason = conn.close_reason
        if reason == "slow_consumer" or (self.paused and reason != "client_gone"):
            self.transport.abort()  # it stopped reading: a polite close would wait forever
        elif reason != "client_gone":
            self.transport.write(END_OF_BODY)
            self.transport.close()
        log_closed(conn)
        self._give_back_slots()

    def _give_back_slots(self) -> None:
        limiter, lease = self.shared.opener.limiter, self.lease
        self.lease = None
        if limiter is not None and lease is not None:
            self.shared.spawn(limiter.release_stream(lease))

    def _refuse(self, response: Any) -> None:
        """A refusal before anything was sent: a whole JSON response, then close."""
        status = response.status_code
        head = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()
        headers = header_lines([*response.raw_headers, (b"connection", b"close")])
        self.finished = True
        if not self.transport.is_closing():
            self.transport.write(head + headers + b"\r\n" + response.body)
            self.transport.close()


def response_head(default_headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """The stream's status line and headers, with the server's own (date, server)."""
    return STREAM_HEAD + header_lines(default_headers) + b"\r\n"
