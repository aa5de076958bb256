"""An EventSource for tests: a real streaming httpx response parsed as WHATWG SSE.

    async with open_stream(client, "/api/v1/notifications/stream", token=t) as stream:
        assert stream.status_code == 200
        connected = await stream.next_event()          # pings skipped
        await stream.expect_no_event(within=0.5)

Events are parsed by httpx-sse; a background task owned by the stream reads them, keeps
every byte of the body in `stream.raw` (for framing assertions) and queues the events, so
a timed-out wait never disturbs the connection. Every wait
has a deadline. A refused stream (401, 403, ...) is not an error here: its status and
body are on the stream for the test to assert.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent, SSEError


class StreamTimeout(AssertionError, TimeoutError):
    """No awaited event arrived before the deadline."""


class StreamClosed(AssertionError):
    """The server ended the stream (or refused it) while an event was awaited."""


# What a test reads: event, data, id (the last one seen, as EventSource keeps it), json().
SSEEvent = ServerSentEvent


class _Recorded(httpx.AsyncByteStream):
    """The response body as it arrives, every byte also appended to `raw`."""

    def __init__(self, body: httpx.AsyncByteStream, raw: bytearray) -> None:
        self._body = body
        self._raw = raw

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._body:
            self._raw += chunk
            yield chunk

    async def aclose(self) -> None:
        await self._body.aclose()


class SSEStream:
    """The client end of one stream; see the module docstring."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.raw = bytearray()
        self.events: list[SSEEvent] = []  # everything dispatched so far, pings included
        self.body = b""  # the body of a refused (non-event-stream) answer
        self.error: BaseException | None = None  # why the reader stopped, if not a clean end
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
        try:
            async for event in EventSource(self.response).aiter_sse():
                if event.data:  # as EventSource: a block without data dispatches nothing
                    self.events.append(event)
                    self._queue.put_nowait(event)
            # An unterminated last block is discarded, as EventSource does.
        except (httpx.HTTPError, OSError, SSEError) as exc:
            self.error = exc
        finally:
            self._ended.set()
            self._queue.put_nowait(None)

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
            response.stream = _Recorded(response.stream, stream.raw)
            stream._start()
        else:
            stream.body = await asyncio.wait_for(response.aread(), connect_timeout)
            stream._ended.set()
            stream._queue.put_nowait(None)
        yield stream
    finally:
        await stream.aclose()
