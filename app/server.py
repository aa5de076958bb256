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

from app.api.stream_request import read_direct_request
from app.api.transports.direct import DirectTransport, response_head
from app.api.transports.sse import ABORT_EXTENSION
from app.api.transports.websocket import MAX_MESSAGE_BYTES
from app.core.config import get_settings
from app.core.logging import configure_logging_from
from app.main import create_app
from app.runtime import Runtime
from app.services.errors import DomainError
from app.streams.session import StreamSession

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024  # request line and headers, in all
DEFAULT_HEAD_TIMEOUT = 10.0  # HTTP_HEADER_TIMEOUT's default, before the app's runtime exists
HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\nconnection: close\r\ncontent-length: 53\r\n\r\n"
    b'{"detail":"request headers larger than 65536 bytes"}\n'
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

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._app_runtime = _runtime(self.app)  # once per connection: the head clock, the stream
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
        elif not self._take_stream():
            super().on_headers_complete()

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
        parser = self.parser
        if (
            parser.get_method() != b"GET"
            or parser.get_http_version() != "1.1"
            or parser.should_upgrade()
            or (self.cycle is not None and not self.cycle.response_complete)
        ):
            return False
        url = httptools.parse_url(self.url)
        path = url.path.decode("ascii", "replace")
        runtime = self._app_runtime
        kind = runtime.stream_paths.get(path) if runtime is not None else None
        if kind is None or runtime is None:
            return False
        if any(name in (b"content-length", b"transfer-encoding") for name, _ in self.headers):
            return False
        scope: dict[str, Any] = {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": url.query or b"",
            "headers": self.headers,
            "client": self.client,
        }
        request = read_direct_request(scope, kind, runtime.settings, runtime.revocations)
        if request is None:
            return False
        streams = runtime.streams
        try:
            subscription = streams.subscribe(request)
        except DomainError:
            return False  # refused by policy: the app answers it
        self._taken = True
        self.connections.discard(self)  # the server no longer waits for this socket
        head = response_head(self.server_state.default_headers)
        transport = DirectTransport(self.transport, head, scope, runtime.metrics)
        session = transport.session = StreamSession(streams, transport)
        self.transport.set_protocol(transport)
        # uvicorn's parser and this protocol refer to each other: left so, every stream kept
        # both (about 1 KiB) until a whole-heap collection, since the GC freezes what
        # survives. Nothing parses for this protocol again (the rest of this read is
        # skipped, `_taken`); once the read is done, both go.
        del self.parser
        streams.spawn(session.open(request.principal, subscription, request.options.last_event_id))
        return True


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
