"""Running the app under uvicorn, with stream requests handed straight to their socket."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httptools
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from app.api.errors import HeadTooLarge, internal_error_response, on_the_wire, refusal_answer
from app.api.front_door import FrontDoor, unsure_of
from app.api.incoming import Incoming
from app.api.readers import REFUSALS
from app.api.transports.sse import ABORT_EXTENSION
from app.core.config import get_settings
from app.core.logging import configure_logging_from
from app.main import create_app
from app.runtime import Runtime

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024  # request line and headers, in all
DEFAULT_HEAD_TIMEOUT = 10.0  # HTTP_HEADER_TIMEOUT's default, before the app's runtime exists
HEAD_TOO_LARGE = on_the_wire(
    refusal_answer(HeadTooLarge(f"request headers larger than {MAX_HEAD_BYTES} bytes"))
)


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


class SalonHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, which hands a plain SSE stream request (GET, HTTP/1.1,
    a bearer or `?token=` credential that checks out) to a StreamSession on a
    DirectTransport: the socket then belongs to the stream, with no ASGI task behind it.
    Everything else, refusals by policy included, goes on to the app as usual.

    A request's head must arrive within HTTP_HEADER_TIMEOUT and be at most MAX_HEAD_BYTES:
    uvicorn bounds neither (with httptools), so a client sending nothing, or a header line
    now and then, held its connection forever, and an unfinished 64 MiB header was kept
    whole in memory. Past either bound the connection is closed."""

    _taken = False
    _head_clock: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _app_runtime: Runtime | None = None
    _front: FrontDoor | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Once per connection: the head clock, the front door's streams.
        self._app_runtime = _runtime(self.app)
        self._front = _front_door(self.app)
        self._start_head_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        reading_head = self._head_clock is not None
        if reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if reading_head and self._head_clock is not None and self._head_bytes > MAX_HEAD_BYTES:
            self._close_for("request head larger than 64 KiB", HEAD_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_clock is None:  # the next request on a kept-alive connection
            self._start_head_clock()
            self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._stop_head_clock()
        # The whole head may come in the read that completes it (160 KiB of headers in one
        # read on loopback), past the check in data_received: measure what was parsed.
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > MAX_HEAD_BYTES:
            self._taken = True  # nothing more of this connection reaches the app
            self._close_for("request head larger than 64 KiB", HEAD_TOO_LARGE)
        elif not self._taken_by_front_door():
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
            self._close_for("front door error", on_the_wire(internal_error_response()))
            return True

    def _start_head_clock(self) -> None:
        runtime = self._app_runtime
        timeout = runtime.settings.http_header_timeout if runtime else DEFAULT_HEAD_TIMEOUT
        self._head_clock = self.loop.call_later(timeout, self._close_for, "request head too slow")

    def _stop_head_clock(self) -> None:
        if self._head_clock is not None:
            self._head_clock.cancel()
            self._head_clock = None

    def _close_for(self, reason: str, answer: bytes = b"") -> None:
        self._stop_head_clock()
        if not self.transport.is_closing():
            logger.info("connection closed: %s", reason, extra={"event": "head_refused"})
            if answer:
                self.transport.write(answer)
            self.transport.close()

    def on_body(self, body: bytes) -> None:
        if not self._taken:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._taken:
            super().on_message_complete()

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
    """The app's front door, found under uvicorn's and our own wrappers (None when
    FRONT_DOOR=0: the streams are FastAPI's too)."""
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
