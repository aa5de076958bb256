"""An EventSource for tests: a real streaming httpx response parsed as WHATWG SSE.

    async with open_stream(client, "/api/v1/notifications/stream", token=t) as stream:
        assert stream.status_code == 200
        connected = await stream.next_event()          # pings skipped
        await stream.expect_no_event(within=0.5)

A background task owned by the stream reads the body, keeps every byte in `stream.raw`
and queues parsed events, so a timed-out wait never disturbs the connection. Every wait
has a deadline. A refused stream (401, 403, ...) is not an error here: its status and
body are on the stream for the test to assert.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx


class StreamTimeout(AssertionError, TimeoutError):
    """No awaited event arrived before the deadline."""


class StreamClosed(AssertionError):
    """The server ended the stream (or refused it) while an event was awaited."""


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event; `id` and `retry` are the fields of its own block, if any."""

    event: str
    data: str
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


def split_lines(buffer: str) -> tuple[list[str], str]:
    """Split on CRLF, LF or CR; return the complete lines and the unterminated rest.

    A trailing CR stays in the rest: its LF may be in the next chunk.
    """
    lines: list[str] = []
    start = index = 0
    end = len(buffer)
    while index < end:
        char = buffer[index]
        if char == "\n":
            lines.append(buffer[start:index])
            index += 1
            start = index
        elif char == "\r":
            if index + 1 == end:
                break
            lines.append(buffer[start:index])
            index += 2 if buffer[index + 1] == "\n" else 1
            start = index
        else:
            index += 1
    return lines, buffer[start:]


class EventParser:
    """The WHATWG event-stream interpretation, fed one line at a time."""

    def __init__(self) -> None:
        self.retry: int | None = None  # the latest reconnection time the server asked for
        self.last_event_id = ""  # persists across events, as in EventSource
        self.comments: list[str] = []
        self._reset()

    def _reset(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments.append(line[1:].removeprefix(" "))
            return None
        name, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
            self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self._retry = self.retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        event = None
        if self._data:  # a block without data (e.g. a lone `retry:`) dispatches nothing
            event = SSEEvent(
                event=self._event or "message",
                data="\n".join(self._data),
                id=self._id,
                retry=self._retry,
            )
        self._reset()
        return event


class SSEStream:
    """The client end of one stream; see the module docstring."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.raw = bytearray()
        self.events: list[SSEEvent] = []  # everything dispatched so far, pings included
        self.body = b""  # the body of a refused (non-event-stream) answer
        self.error: BaseException | None = None  # why the reader stopped, if not a clean end
        self._parser = EventParser()
        self._queue: asyncio.Queue[SSEEvent | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()

    # ------------------------------------------------------------------ the answer

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    @property
    def is_event_stream(self) -> bool:
        media_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        return self.status_code == 200 and media_type == "text/event-stream"

    def json(self) -> Any:
        """The JSON body of a refused stream (e.g. `{"detail": ...}` of a 401)."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    @property
    def retry(self) -> int | None:
        return self._parser.retry

    @property
    def last_event_id(self) -> str:
        return self._parser.last_event_id

    @property
    def comments(self) -> list[str]:
        return self._parser.comments

    @property
    def closed(self) -> bool:
        """True once the server ended the body (or it was never a stream)."""
        return self._ended.is_set()

    def __repr__(self) -> str:
        return (
            f"<SSEStream {self.status_code} {self.response.request.url} events={len(self.events)}>"
        )

    # ------------------------------------------------------------------ waiting

    async def next_event(
        self,
        timeout: float = 5.0,
        skip_pings: bool = True,
    ) -> SSEEvent:
        """The next dispatched event (pings skipped unless asked for)."""
        self._require_stream()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            item = await self._get(deadline - loop.time())
            if item is _TIMEOUT:
                what = "non-ping event" if skip_pings else "event"
                raise StreamTimeout(f"no {what} within {timeout}s; {self._describe()}")
            if item is None:
                raise StreamClosed(
                    f"the stream ended while an event was awaited; {self._describe()}"
                )
            assert isinstance(item, SSEEvent)
            if skip_pings and item.event == "ping":
                continue
            return item

    async def next_notification(self, timeout: float = 5.0) -> SSEEvent:
        """The next non-ping event, which must be a `notification`."""
        event = await self.next_event(timeout=timeout)
        assert event.event == "notification", f"expected a notification, got {event!r}"
        return event

    async def expect_no_event(self, within: float = 0.5, allow_close: bool = False) -> None:
        """Assert that no non-ping event arrives within `within` seconds."""
        self._require_stream()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            item = await self._get(deadline - loop.time())
            if item is _TIMEOUT:
                return
            if item is None:
                if allow_close:
                    return
                raise StreamClosed(f"the stream ended within {within}s; {self._describe()}")
            assert isinstance(item, SSEEvent)
            if item.event != "ping":
                raise AssertionError(f"unexpected event within {within}s: {item!r}")

    async def wait_closed(self, timeout: float = 5.0) -> None:
        """Wait until the server ends the stream; events already queued stay readable."""
        try:
            await asyncio.wait_for(self._ended.wait(), timeout)
        except TimeoutError:
            raise StreamTimeout(
                f"the stream stayed open for {timeout}s; {self._describe()}"
            ) from None

    async def read_raw(self, size: int, timeout: float = 5.0) -> bytes:
        """The first `size` bytes of the body (fewer only if the stream ended first)."""
        self._require_stream()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.raw) < size and not self._ended.is_set():
            if loop.time() >= deadline:
                raise StreamTimeout(
                    f"fewer than {size} bytes within {timeout}s; {self._describe()}"
                )
            await asyncio.sleep(0.01)
        return bytes(self.raw[:size])

    # ------------------------------------------------------------------ internals

    async def _get(self, remaining: float) -> object:
        """An SSEEvent, None once the stream ended, or _TIMEOUT."""
        if remaining <= 0:
            if self._queue.empty():
                return _TIMEOUT
            item = self._queue.get_nowait()
        else:
            try:
                item = await asyncio.wait_for(self._queue.get(), remaining)
            except TimeoutError:
                return _TIMEOUT
        if item is None:
            self._queue.put_nowait(None)  # the end stays visible to later waits
        return item

    def _require_stream(self) -> None:
        if not self.is_event_stream:
            raise StreamClosed(
                f"not an event stream: {self.status_code} "
                f"{self.headers.get('content-type')!r} {self.text[:500]!r}"
            )

    def _describe(self) -> str:
        tail = bytes(self.raw[-600:])
        return f"events so far {self.events[-5:]!r}; raw tail {tail!r}; reader error {self.error!r}"

    def _start(self) -> None:
        self._task = asyncio.create_task(self._read(), name=f"sse-reader {self.response.url}")

    async def _read(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        first = True
        try:
            async for chunk in self.response.aiter_raw():
                self.raw += chunk
                text = decoder.decode(chunk)
                if first and text:
                    text, first = text.removeprefix("\ufeff"), False
                lines, pending = split_lines(pending + text)
                for line in lines:
                    self._feed(line)
            if pending.endswith("\r"):
                self._feed(pending[:-1])
            # An unterminated last block is discarded, as EventSource does.
        except (httpx.HTTPError, OSError) as exc:
            self.error = exc
        finally:
            self._ended.set()
            self._queue.put_nowait(None)

    def _feed(self, line: str) -> None:
        event = self._parser.feed(line)
        if event is not None:
            self.events.append(event)
            self._queue.put_nowait(event)

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.response.aclose()


_TIMEOUT = object()


@contextlib.asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    path: str,
    token: str | None = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    last_event_id: int | str | None = None,
    connect_timeout: float = 10.0,
) -> AsyncIterator[SSEStream]:
    """GET `path` as an EventSource would; the stream closes when the block exits."""
    request_headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    if token is not None:
        request_headers["Authorization"] = f"Bearer {token}"
    if last_event_id is not None:
        request_headers["Last-Event-ID"] = str(last_event_id)
    request_headers.update(headers or {})
    request = client.build_request(
        "GET",
        path,
        params=params,
        headers=request_headers,
        timeout=httpx.Timeout(connect_timeout, read=None),  # an idle stream is not an error
    )
    response = await asyncio.wait_for(client.send(request, stream=True), connect_timeout)
    stream = SSEStream(response)
    try:
        if stream.is_event_stream:
            stream._start()
        else:
            stream.body = await asyncio.wait_for(response.aread(), connect_timeout)
            stream._ended.set()
            stream._queue.put_nowait(None)
        yield stream
    finally:
        await stream.aclose()
