"""The load generator's wire clients: raw asyncio Protocols on uvloop, no HTTP library.

- `SseStream`: one HTTP/1.1 GET, then the chunked SSE body read as bytes; a regex over
  whole lines finds `id: N` (chunk headers and TCP reads never split a line we keep),
  and each read is recorded as (receipt time, ids) for the analysis after the phase.
- `HttpConn` / `Pool`: keep-alive request/response connections (Content-Length bodies),
  callback-driven, for the notifications' POSTs and small GETs.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable

ID_RE = re.compile(rb"\nid: (\d+)")


class Progress:
    """Ids received by every stream together: the drain loop watches it."""

    __slots__ = ("ids",)

    def __init__(self) -> None:
        self.ids = 0


def get_request(path: str, token: str) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n{auth}\r\n"
    ).encode()


def rest_get(path: str, token: str) -> bytes:
    """A keep-alive GET for a JSON answer (a REST read)."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()


def post_request(path: str, token: str, body: bytes) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class SseStream(asyncio.Protocol):
    __slots__ = (
        "closed",
        "head",
        "index",
        "opened",
        "pings",
        "progress",
        "recs",
        "request",
        "status",
        "tail",
        "transport",
        "waiter",
    )

    def __init__(self, index: int, request: bytes, progress: Progress) -> None:
        self.index = index
        self.request = request
        self.progress = progress
        self.transport: asyncio.Transport | None = None
        self.head = b""
        self.tail = b""
        self.status = 0
        self.opened = 0.0
        self.closed = 0.0
        self.pings = 0
        self.recs: list[tuple[float, list[bytes]]] = []
        self.waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if not self.status:
            data = self.head + data
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.head = data
                return
            self.head = b""
            self.status = int(data[9:12])
            if self.status != 200:
                self._resolve(RuntimeError(f"stream answered {self.status}"))
                if self.transport is not None:
                    self.transport.close()
                return
            data = data[end + 2 :]  # keep a "\n" in front of the first line
        if self.tail:
            data = self.tail + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self.tail = data
            return
        self.tail = data[cut:]
        body = data[:cut]
        ids = ID_RE.findall(body)
        if ids:
            self.recs.append((now, ids))
            self.progress.ids += len(ids)
        self.pings += body.count(b": ping")
        if not self.opened and b"connected" in body:
            self.opened = now
            self._resolve(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = time.time()
        self._resolve(ConnectionError("stream closed before it was connected"))

    def _resolve(self, error: Exception | None) -> None:
        waiter = self.waiter
        if not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


Done = Callable[[int, bytes, float], None]  # status, body, send time


class HttpConn(asyncio.Protocol):
    """One keep-alive connection, one request at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.need = -1
        self.body_at = 0
        self.status = 0
        self.done: Done | None = None
        self.sent_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, done: Done) -> None:
        self.done, self.sent_at = done, time.time()
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if self.need < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            at = head.find(b"content-length:")
            line_end = head.find(b"\r\n", at)
            length = 0 if at < 0 else int(head[at + 15 : line_end if line_end > 0 else len(head)])
            self.status = int(buf[9:12])
            self.body_at, self.need = end + 4, end + 4 + length
        if len(buf) < self.need:
            return
        body = bytes(buf[self.body_at : self.need])
        del buf[: self.need]
        self.need = -1
        done, self.done = self.done, None
        if done is not None:
            done(self.status, body, self.sent_at)
        self.pool.release(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.lost(self)


class Pool:
    """Keep-alive connections; requests beyond them wait in a queue (counted)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.size = 0
        self.live = 0
        self.idle: list[HttpConn] = []
        self.queue: deque[tuple[bytes, Done]] = deque()
        self.in_flight = 0
        self.broken = 0

    async def open(self, size: int) -> None:
        self.size = size
        await self.ensure()

    async def ensure(self) -> None:
        """Back to `size` connections: the server closes keep-alive ones left idle (5 s)."""
        loop = asyncio.get_running_loop()
        while self.live < self.size:
            _, conn = await loop.create_connection(lambda: HttpConn(self), "127.0.0.1", self.port)
            self.live += 1
            if self.queue:
                conn.send(*self.queue.popleft())
            else:
                self.idle.append(conn)

    def submit(self, request: bytes, done: Done) -> None:
        self.in_flight += 1
        if self.idle:
            self.idle.pop().send(request, done)
        else:
            self.queue.append((request, done))

    def release(self, conn: HttpConn) -> None:
        self.in_flight -= 1
        if self.queue:
            conn.send(*self.queue.popleft())
        else:
            self.idle.append(conn)

    def drop_queued(self) -> int:
        dropped = len(self.queue)
        self.in_flight -= dropped
        self.queue.clear()
        return dropped

    def lost(self, conn: HttpConn) -> None:
        self.broken += 1
        self.live -= 1
        if conn in self.idle:
            self.idle.remove(conn)
        elif conn.done is not None:
            self.in_flight -= 1

    async def fetch(self, request: bytes, timeout: float = 10.0) -> tuple[int, bytes, float]:
        """One request, awaited: (status, body, round trip seconds)."""
        future: asyncio.Future[tuple[int, bytes, float]] = (
            asyncio.get_running_loop().create_future()
        )

        def done(status: int, body: bytes, sent: float) -> None:
            if not future.done():
                future.set_result((status, body, time.time() - sent))

        await self.ensure()
        self.submit(request, done)
        return await asyncio.wait_for(future, timeout)

    def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()
