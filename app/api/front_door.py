"""The front door: the routes answered ahead of FastAPI, in one table, by the same readers.

Profiled, FastAPI's routing, dependency solving and middleware cost a create or a read
about as much as its own work, and an open stream an ASGI task and a watcher for its whole
life. So a few routes are answered in front of it: each entry of ROUTES names the FastAPI
route it answers for (its path comes from the router), its reader (app/api/readers.py:
the function FastAPI's dependency for that route calls too) and its handler (the one the
FastAPI endpoint calls too). A faster path is thus a different executor of the same rules.

Two executors: the streams are taken on their socket by the protocol beneath uvicorn
(app/server.py, then app/api/transports/direct.py); the others by `FrontDoor`, an outer
ASGI layer. Both find their route with `FrontDoor.route_for`, and leave to FastAPI, as it
came, whatever they are not sure of (`unsure_of`), counted by route and reason in
`salon_front_door_declines`. A reader's refusal is answered by the one error writer
(app/api/errors.py `answer_for`), as FastAPI's handlers answer it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from app.api import readers
from app.api.errors import answer_for
from app.api.incoming import Incoming, RawHeaders
from app.api.transports.direct import open_direct
from app.core.config import Settings
from app.runtime import Runtime, runtime_of
from app.schemas.notification import ListOptions, NotificationBatchCreate, NotificationCreate
from app.services.stored import batch_json

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the handlers
# Called by the front door and by the FastAPI endpoints alike (app/api/v1/endpoints/).


async def list_json(asked: readers.Asked[ListOptions], runtime: Runtime) -> bytes:
    return await runtime.reads.list_json(asked.principal, asked.value)


async def unread_json(asked: readers.Asked[None], runtime: Runtime) -> bytes:
    return await runtime.reads.unread_json(asked.principal)


async def create_json(asked: readers.Asked[NotificationCreate], runtime: Runtime) -> bytes:
    return (await runtime.creator.create(asked.principal, asked.value)).public_json()


async def batch_create_json(
    asked: readers.Asked[NotificationBatchCreate], runtime: Runtime
) -> bytes:
    stored = await runtime.creator.create_batch(asked.principal, asked.value.notifications)
    return batch_json(stored)


# --------------------------------------------------------------------------- the table

Reader = Callable[[Incoming, Runtime], Any]
Handler = Callable[[Any, Runtime], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class FrontRoute:
    name: str  # the FastAPI route's name: its path is the router's
    method: str
    reader: Reader
    handler: Callable[..., Any]  # Handler; on the socket: transports/direct.open_direct
    on_socket: bool = False  # a stream, taken on its socket beneath uvicorn
    status: int = 200
    body: bool = False  # the reader needs the body


ROUTES = (
    FrontRoute("admin_stream", "GET", readers.read_admin_stream, open_direct, on_socket=True),
    FrontRoute("customer_stream", "GET", readers.read_customer_stream, open_direct, on_socket=True),
    FrontRoute(
        "create_notification", "POST", readers.read_create, create_json, status=201, body=True
    ),
    FrontRoute(
        "create_batch", "POST", readers.read_batch, batch_create_json, status=201, body=True
    ),
    FrontRoute("list_notifications", "GET", readers.read_list, list_json),
    FrontRoute("unread_count", "GET", readers.read_count, unread_json),
)


def unsure_of(route: FrontRoute, headers: RawHeaders, settings: Settings) -> str | None:
    """Why a request of a front-door route is left to FastAPI as it came, if it is."""
    length: bytes | None = None
    chunked = False
    for name, value in headers:
        if name == b"origin":
            return "origin"  # CORS is FastAPI's middleware's
        if name == b"content-length":
            length = value
        elif name == b"transfer-encoding":
            chunked = True
    if route.on_socket and (chunked or length is not None):
        return "body"  # nothing reads a stream request's body: its socket is taken as it is
    if length is not None and (
        not length.isdigit() or int(length) > settings.max_request_body_bytes
    ):
        return "too_large"  # FastAPI's body limit answers (or refuses the length)
    if chunked and route.body:
        return "chunked"  # its size is known only as it comes: FastAPI's body limit counts it
    return None


class FrontDoor:
    """The outer ASGI layer: answers its routes' requests, passes everything else to `app`
    (FastAPI). Closed (FRONT_DOOR=0), it passes everything, and FastAPI answers all."""

    def __init__(self, app: FastAPI, *, open: bool = True) -> None:
        self.app = app
        self.open = open
        self.routes = {(r.method, str(app.url_path_for(r.name))): r for r in ROUTES}
        self.stream_paths = frozenset(path for (_, path), r in self.routes.items() if r.on_socket)

    def route_for(self, method: str, path: str) -> FrontRoute | None:
        """The one look-up of the table, for both executors; None when closed."""
        return self.routes.get((method, path)) if self.open else None

    def is_stream_path(self, path: str) -> bool:
        """Whether a path is a stream route's, open or closed (whoever answers it)."""
        return path in self.stream_paths

    def runtime(self) -> Runtime:
        return runtime_of(self.app)

    def decline(self, route: FrontRoute, reason: str, runtime: Runtime) -> None:
        runtime.metrics.front_door_declines.labels(route.name, reason).inc()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = self.route_for(scope["method"], scope["path"])
            if route is not None and not route.on_socket:
                await self._answer(route, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _answer(self, route: FrontRoute, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self.runtime()
        reason = unsure_of(route, scope["headers"], runtime.settings)
        if reason is not None:
            self.decline(route, reason, runtime)
            await self.app(scope, receive, send)
            return
        body = b""
        if route.body:
            read = await _body(receive)
            if read is None:
                return  # the client left
            body = read
        try:
            asked = route.reader(Incoming.of(scope, body), runtime)
            handler: Handler = route.handler
            content = await handler(asked, runtime)
        except Exception as exc:
            response = answer_for(scope, exc, runtime)
            await response(scope, receive, send)
            if response.status_code == 500:
                raise  # a bug or an outage: uvicorn logs its traceback, as after FastAPI's
            return
        await send_json(send, route.status, content)


async def _body(receive: Receive) -> bytes | None:
    """The request's body, or None if the client left before sending it all."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


_JSON = (b"content-type", b"application/json")


async def send_json(send: Send, status: int, content: bytes) -> None:
    """JSON as Starlette's Response(content, status, media_type="application/json") sends
    it, the same head, without building one (its header building was ~5 % of a POST)."""
    length = (b"content-length", str(len(content)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [length, _JSON]})
    await send({"type": "http.response.body", "body": content})
