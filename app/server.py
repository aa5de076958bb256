"""Running the app under uvicorn, with stream requests handed straight to their socket."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any, cast

import httptools
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.supervisors import Multiprocess

from app.api.errors import (
    HeadTooLarge,
    internal_error_response,
    refusal,
    refusal_answer,
    response_bytes,
)
from app.api.front_door import FrontDoor, unsure_of
from app.api.incoming import Incoming
from app.api.readers import REFUSALS
from app.api.transports.sse import TRANSPORT_EXTENSION
from app.api.transports.websocket import MAX_MESSAGE_BYTES
from app.core.config import Settings, get_settings
from app.core.logging import configure_logging_from
from app.main import create_app
from app.runtime import Runtime

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024  # request line and headers, in all
BODY_RATE_GRACE = 10.0  # seconds of a body before its average rate is judged
# The settings' defaults, for an app with no runtime (before it has started).
DEFAULT_SETTINGS = Settings.model_construct()
HEAD_TOO_LARGE = response_bytes(
    refusal_answer(HeadTooLarge(f"request headers larger than {MAX_HEAD_BYTES} bytes"))
)
HEAD, BODY = 1, 2  # what the read clock is timing
RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s


class TransportAccess:
    """Outermost ASGI layer: hands a stream its own socket's transport (to abort it, and to
    see what waits for its client).

    uvicorn's `send` is a method of an object holding the transport; the layers below
    (Starlette's middleware) wrap it, so it is taken here, before them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is not None:
                scope.setdefault("extensions", {})[TRANSPORT_EXTENSION] = transport
        await self.app(scope, receive, send)


class SalonHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, beneath which the front door (app/api/front_door.py)
    takes its stream routes' requests on their socket: read by the route's reader, allowed
    by policy, the socket then belongs to the stream (a DirectTransport), with no ASGI task
    behind it. Everything else, refusals included, goes on to the app as usual.

    It also bounds what uvicorn (with httptools) leaves unbounded, each past its bound
    closing the connection:
    - a request's head must arrive within HTTP_HEADER_TIMEOUT and be at most
      MAX_HEAD_BYTES (before, a client sending a header line now and then held its
      connection forever, and an unfinished 64 MiB header was kept whole in memory);
    - its body may not go HTTP_BODY_TIMEOUT without a byte, nor average under
      HTTP_MIN_BODY_RATE bytes a second past its first BODY_RATE_GRACE (or
      HTTP_BODY_TIMEOUT if shorter): a 408 if the app hasn't begun its answer;
    - an answer the client takes nothing of for HTTP_WRITE_TIMEOUT while bytes wait for it
      is dropped, bytes and all (ASGI streams are left to their own slow-consumer rules).
    One read clock per request times the head, then the body: rather than being wound
    again for each read, it looks when it fires and re-arms itself. The write clock runs
    only while bytes wait: from uvicorn's pause_writing, or the end of an answer not yet
    all sent."""

    _taken = False
    _clock: asyncio.TimerHandle | None = None  # the read clock
    _reading = 0  # HEAD or BODY while the read clock runs
    _head_bytes = 0
    _body_bytes = 0
    _body_start = 0.0
    _last_read = 0.0
    _write_clock: asyncio.TimerHandle | None = None
    _unsent = 0  # bytes waiting when the write clock was wound
    _answering: RequestResponseCycle | None = None
    _app_runtime: Runtime | None = None
    _settings: Settings = DEFAULT_SETTINGS
    _front: FrontDoor | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Once per connection: the clocks' settings, the front door's stream routes.
        runtime = self._app_runtime = _runtime(self.app)
        if runtime is not None:
            self._settings = runtime.settings
        self._front = _front_door(self.app)
        self._start_head_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        self._stop_write_clock()
        # uvicorn tells only the last request parsed: with requests pipelined behind it,
        # the one being answered went on writing to the closed socket (an error logged).
        answering = self._answering
        if answering is not None and not answering.response_complete:
            answering.disconnected = True
        super().connection_lost(exc)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        self._answering = cycle
        super()._start_asgi_task(cycle, app)

    def data_received(self, data: bytes) -> None:
        reading_head = self._reading == HEAD
        if reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if reading_head and self._reading == HEAD and self._head_bytes > MAX_HEAD_BYTES:
            self._close_for("request head larger than 64 KiB", HEAD_TOO_LARGE, "head_refused")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._clock is None:  # the next request on a kept-alive connection
            self._start_head_clock()
            self._head_bytes = 0

    def on_headers_complete(self) -> None:
        # The whole head may come in the read that completes it (160 KiB of headers in one
        # read on loopback), past the check in data_received: measure what was parsed.
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > MAX_HEAD_BYTES:
            self._taken = True  # nothing more of this connection reaches the app
            self._close_for("request head larger than 64 KiB", HEAD_TOO_LARGE, "head_refused")
        elif self._taken_by_front_door():
            self._stop_clock()
        else:
            self._start_body_clock()
            super().on_headers_complete()

    def _taken_by_front_door(self) -> bool:
        """A stream taken on its socket; a bug on the way is logged with its traceback and
        answered with the app's JSON 500 (raised from this httptools callback, it became
        uvicorn's plain-text 400, with no traceback)."""
        try:
            return self._take_stream()
        except Exception:
            logger.exception("the front door failed on a stream request")
            self._taken = True  # nothing more of this connection reaches the app
            self._close_for("front door error", response_bytes(internal_error_response()))
            return True

    def on_message_complete(self) -> None:
        self._stop_clock()
        if not self._taken:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._write_clock is None and self.transport.get_write_buffer_size():
            self._start_write_clock()  # the answer isn't all sent: it still may not stall

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_clock is None:
            self._start_write_clock()

    def resume_writing(self) -> None:
        self._stop_write_clock()
        super().resume_writing()

    # The read clock.

    def _start_head_clock(self) -> None:
        self._reading = HEAD
        timeout = self._settings.http_header_timeout
        self._clock = self.loop.call_later(timeout, self._read_clock_fired)

    def _start_body_clock(self) -> None:
        now = self.loop.time()
        # The head's clock serves if it fires before the body's first look (as by default).
        first = now + min(BODY_RATE_GRACE, self._settings.http_body_timeout)
        if self._clock is None or self._clock.when() > first:
            self._stop_clock()
            self._clock = self.loop.call_at(first, self._read_clock_fired)
        self._reading, self._body_start, self._last_read, self._body_bytes = BODY, now, now, 0

    def _stop_clock(self) -> None:
        self._reading = 0
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None

    def _read_clock_fired(self) -> None:
        self._clock = None
        if self.transport.get_protocol() is not self:
            self._reading = 0  # a WebSocket's or a stream's now: not ours to time
        elif self._reading == HEAD:
            self._close_for("request head too slow", event="head_refused")
        elif self._reading == BODY:
            self._look_at_body()

    def _look_at_body(self) -> None:
        settings, now, cycle = self._settings, self.loop.time(), self.cycle
        if self.flow.read_paused or cycle.waiting_for_100_continue:
            # Not the client's doing (the app hasn't read what came, or hasn't asked for
            # the body yet): its body is timed afresh from here.
            self._body_start, self._last_read, self._body_bytes = now, now, 0
        idle_until = self._last_read + settings.http_body_timeout
        if now >= idle_until:
            return self._body_too_slow(f"no byte for {settings.http_body_timeout:g} s")
        elapsed, rate = now - self._body_start, settings.http_min_body_rate
        grace = min(BODY_RATE_GRACE, settings.http_body_timeout)
        if rate and elapsed >= grace and self._body_bytes < rate * elapsed:
            return self._body_too_slow(f"under {rate} bytes a second")
        # The next look: when the body would go idle, or fall under the rate if no more
        # of it came.
        next_look = self._body_start + max(grace, self._body_bytes / rate) if rate else idle_until
        self._clock = self.loop.call_at(min(idle_until, next_look), self._read_clock_fired)

    def _body_too_slow(self, why: str) -> None:
        self._taken = True  # nothing more of this connection reaches the app
        cycle, runtime, reason = self.cycle, self._app_runtime, f"request body too slow: {why}"
        if cycle.response_started or runtime is None:
            self._close_for(reason, event="body_too_slow")
        else:  # the 408 is logged as every refusal is
            scope = cast(dict[str, Any], cycle.scope)
            self._close_for(reason, response_bytes(refusal(scope, 408, reason, runtime.metrics)))
        cycle.disconnected = True  # the app, still reading, gets a disconnect; writes nothing

    def _close_for(self, reason: str, answer: bytes = b"", event: str | None = None) -> None:
        """Close the connection, after `answer`; logged as `event` (if not logged already)."""
        self._stop_clock()
        if not self.transport.is_closing():
            if event:
                logger.info("connection closed: %s", reason, extra={"event": event})
            if answer:
                self.transport.write(answer)
            self.transport.close()

    # The write clock.

    def _start_write_clock(self) -> None:
        self._unsent = self.transport.get_write_buffer_size()
        timeout = self._settings.http_write_timeout
        self._write_clock = self.loop.call_later(timeout, self._write_clock_fired)

    def _stop_write_clock(self) -> None:
        if self._write_clock is not None:
            self._write_clock.cancel()
            self._write_clock = None

    def _write_clock_fired(self) -> None:
        self._write_clock = None
        transport = self.transport
        unsent = transport.get_write_buffer_size()
        if transport.get_protocol() is not self or not unsent:
            return
        if unsent < self._unsent:
            self._start_write_clock()  # the client took some: it has another while
        elif not self._streaming():
            logger.info(
                "connection dropped: answer not read for %g s",
                self._settings.http_write_timeout,
                extra={"event": "answer_not_read"},
            )
            # With a reset, not a FIN: the kernel would keep the megabytes in its own
            # buffer (they were 2.8 MB on loopback) while it tried to deliver them.
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
            transport.abort()  # what waits is dropped with it

    def _streaming(self) -> bool:
        """Whether the answer under way is an ASGI stream (it has rules of its own)."""
        front, cycle = self._front, self.cycle
        return bool(front and cycle and front.is_stream_path(cycle.scope.get("path", "")))

    def on_body(self, body: bytes) -> None:
        if not self._taken:
            self._body_bytes += len(body)
            self._last_read = self.loop.time()
            super().on_body(body)

    def _take_stream(self) -> bool:
        front, runtime = self._front, self._app_runtime
        if front is None or runtime is None:
            return False
        parser = self.parser
        url = httptools.parse_url(self.url)
        path = url.path.decode("ascii", "replace")
        route = front.route_for(parser.get_method().decode("ascii", "replace"), path)
        if route is None or not route.on_socket or parser.should_upgrade():
            return False
        reason = unsure_of(route, self.headers, runtime.settings)
        if reason is None and parser.get_http_version() != "1.1":
            reason = "http_version"  # no chunked answers
        if reason is None and self.cycle is not None and not self.cycle.response_complete:
            reason = "pipelined"  # an answer is still being written on this connection
        if reason is not None:
            front.decline(route, reason, runtime)
            return False
        scope: dict[str, Any] = {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": url.query or b"",
            "headers": self.headers,
            "client": self.client,
        }
        streams = runtime.streams
        try:
            request = route.reader(Incoming.of(scope), runtime)
            subscription = streams.subscribe(request)
        except REFUSALS:
            front.decline(route, "refused", runtime)  # FastAPI's route reads it again, answers
            return False
        self._taken = True
        self.connections.discard(self)  # the server no longer waits for this socket
        # uvicorn's parser and this protocol refer to each other: left so, every stream kept
        # both (about 1 KiB) until a whole-heap collection, since the GC freezes what
        # survives. Nothing parses for this protocol again (the rest of this read is
        # skipped, `_taken`); once the read is done, both go.
        del self.parser
        default_headers = self.server_state.default_headers
        route.handler(self.transport, request, subscription, default_headers, scope, streams)
        return True


def _front_door(app: Any) -> FrontDoor | None:
    """The app's front door, found under uvicorn's and our own wrappers."""
    while app is not None and not isinstance(app, FrontDoor):
        app = getattr(app, "app", None)
    return app


def _runtime(app: Any) -> Runtime | None:
    """The app's runtime, found under uvicorn's and our own wrappers; None before the app
    has started."""
    while app is not None:
        state = getattr(app, "state", None)
        if state is not None:
            runtime = getattr(state, "runtime", None)
            return runtime if isinstance(runtime, Runtime) else None
        app = getattr(app, "app", None)
    return None


def worker_app() -> ASGIApp:
    """The app of one worker process: each builds its own from the environment."""
    settings = get_settings()
    configure_logging_from(settings)
    return TransportAccess(create_app(settings))


def run(
    app: ASGIApp, host: str, port: int, log_level: str, workers: int = 1, **options: Any
) -> None:
    """One process, or `workers` processes sharing the listening socket (each an instance
    of the deployment, so they need a shared broker: BROKER_URL=redis://)."""
    config = uvicorn.Config(
        "app.server:worker_app" if workers > 1 else TransportAccess(app),
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        loop="uvloop",
        ws="websockets-sansio",
        # A client sends a token, then nothing that needs more: past the bound uvicorn closes
        # with 1009. No compression: a small frame would inflate to the bound in memory.
        ws_max_size=MAX_MESSAGE_BYTES,
        ws_per_message_deflate=False,
        lifespan="on",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=15,
        **{"http": SalonHttpProtocol, **options},  # the benchmark compares uvicorn's own
    )
    if workers == 1:
        uvicorn.Server(config).run()
        return
    Multiprocess(config, sockets=[config.bind_socket()]).run()
