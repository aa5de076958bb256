"""The seed's "WebSocket fallback": a stream session over a WebSocket.

Each event is one text message `{"event": ..., "id": ..., "data": {...}}`. The client
authenticates with an `Authorization: Bearer` header or, from a browser (which cannot set
one), with a first message `{"type": "auth", "token": "..."}`; tokens never go in the URL.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.api import credentials
from app.api.errors import note_refusal
from app.api.transports.sse import end_when_gone, socket_of, socket_unsent
from app.core.config import Settings
from app.core.connection import CloseReason, Kind
from app.core.security import Principal
from app.core.sse import frames_as_json
from app.services.errors import DomainError, LimitExceeded, NotAuthenticated, PermissionDenied
from app.services.revocations import Revocations
from app.streams.session import StreamSession
from app.streams.shared import StreamOptions, StreamRequest, Streams

AUTH_TIMEOUT = 10.0
# A client message, before or after authentication: a token and a few keys (the server
# closes with 1009 past it, app.server.run; the first is checked here too, for a server
# started otherwise).
MAX_MESSAGE_BYTES = 8192
CLOSE_NORMAL, CLOSE_POLICY, CLOSE_TRY_AGAIN = 1000, 1008, 1013
CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN, CLOSE_INVALID, CLOSE_LIMITED = 4401, 4403, 4422, 4429
# Kept off the socket: a stream's messages are JSON events only.
_GONE = (WebSocketDisconnect, RuntimeError, OSError)


async def serve_websocket(
    websocket: WebSocket,
    streams: Streams,
    revocations: Revocations,
    kind: Kind,
    options: StreamOptions,
    salon_filter: int | None = None,
) -> None:
    """Accept, authenticate, subscribe, then run a stream session on the socket."""
    await websocket.accept()
    principal = await _authenticate(websocket, streams.settings, revocations)
    if principal is None:
        return
    request = StreamRequest(principal, kind, options, salon_filter)
    try:
        subscription = streams.subscribe(request)
    except DomainError as exc:
        code = CLOSE_FORBIDDEN if isinstance(exc, PermissionDenied) else CLOSE_INVALID
        await websocket.close(code=code, reason=exc.detail[:120])
        return
    transport = WebSocketTransport(websocket, streams)
    session = StreamSession(streams, transport)
    watch = end_when_gone(session, websocket.receive, "websocket.disconnect")
    watcher = asyncio.get_running_loop().create_task(watch)
    try:
        with suppress(*_GONE):
            await session.run(principal, subscription, options.last_event_id)
    finally:
        watcher.cancel()
    if transport.close_code is not None:
        with suppress(Exception):
            await websocket.close(code=transport.close_code, reason=transport.close_reason)


async def _authenticate(
    websocket: WebSocket, settings: Settings, revocations: Revocations
) -> Principal | None:
    """The header's bearer token (read as the REST endpoints read it), else the first
    message's. An Authorization header that carries no bearer token is refused at once."""
    header = websocket.headers.get("authorization")
    try:
        if header is not None:
            token = credentials.bearer_token(header)
            if token is None:
                raise NotAuthenticated("not a bearer token")
        else:
            first = await asyncio.wait_for(_auth_message(websocket), AUTH_TIMEOUT)
            if first is None:
                await websocket.close(code=CLOSE_POLICY, reason="expected an auth message first")
                return None
            if first.get("type") != "auth":
                raise NotAuthenticated("expected an auth message first")
            token = str(first.get("token", ""))
        return credentials.from_bearer(token, settings, revocations)
    except (NotAuthenticated, TimeoutError, ValueError, KeyError):
        with suppress(Exception):
            await websocket.close(code=CLOSE_UNAUTHORIZED, reason="invalid or expired token")
        return None
    except WebSocketDisconnect:
        return None


async def _auth_message(websocket: WebSocket) -> dict[str, object] | None:
    """The first message as a JSON object; None when it can't be one (too long, not text,
    not JSON, nested past orjson's bound, which answers where the json module recursed
    into a RecursionError)."""
    text = await websocket.receive_text()
    if len(text) > MAX_MESSAGE_BYTES:
        return None
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return message if isinstance(message, dict) else None


class WebSocketTransport:
    """A session's Transport over a WebSocket, pumped by the endpoint's task."""

    driven = False

    def __init__(self, websocket: WebSocket, streams: Streams) -> None:
        self.websocket = websocket
        self.streams = streams
        self.close_code: int | None = None  # set when the session ends the stream
        self.close_reason = ""
        self._socket = socket_of(websocket.scope)

    async def refuse(self, exc: LimitExceeded) -> None:
        note_refusal(self.websocket.scope, 429, exc.detail, self.streams.metrics, exc.limit)
        self.close_code, self.close_reason = CLOSE_LIMITED, exc.detail[:120]

    async def start(self, hello: bytes) -> None:
        await self.write_when_ready(hello)

    async def write_when_ready(self, data: bytes) -> None:
        for message in frames_as_json(data):
            await self.websocket.send_text(message)

    def end(self, reason: CloseReason | None) -> None:
        self.close_code = CLOSE_TRY_AGAIN if reason == "slow_consumer" else CLOSE_NORMAL
        self.close_reason = reason or ""

    def abort(self) -> None:
        if self._socket is not None:
            self._socket.abort()

    def unsent(self) -> int:
        return socket_unsent(self._socket)
