"""The seed's "WebSocket fallback": a stream session over a WebSocket.

Each event is one text message `{"event": ..., "id": ..., "data": {...}}`. It admits
through the stream's reader (app/api/readers.py `read_stream`), with the SSE routes'
credentials: the Authorization header, `?token=` (a stream token), the session cookie (only
with an allowed Origin); with none of them, a first message `{"type": "auth", "token":
"..."}` (an access or a stream token). Close codes come from app/api/errors.py.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.api import readers
from app.api.errors import (
    WS_POLICY,
    log_refusal,
    note_refusal,
    status_of,
    ws_close_code,
    ws_refusal_code,
)
from app.api.incoming import Incoming
from app.api.transports.sse import end_when_gone, socket_of, socket_unsent
from app.core.connection import CloseReason, Kind, Subscription
from app.core.sse import frames_as_json
from app.runtime import Runtime
from app.services.errors import DomainError, InvalidRequest, LimitExceeded
from app.streams.session import StreamSession
from app.streams.shared import StreamRequest, Streams

AUTH_TIMEOUT = 10.0
# A client message, before or after authentication: a token and a few keys (the server
# closes with 1009 past it, app.server.run; the first is checked here too, for a server
# started otherwise).
MAX_MESSAGE_BYTES = 8192
# Kept off the socket: a stream's messages are JSON events only.
_GONE = (WebSocketDisconnect, RuntimeError, OSError)


async def serve_websocket(websocket: WebSocket, runtime: Runtime, kind: Kind) -> None:
    """Accept, admit (read, subscribe), then run a stream session on the socket."""
    await websocket.accept()
    admitted = await _admit(websocket, runtime, kind)
    if admitted is None:
        return
    request, subscription = admitted
    streams = runtime.streams
    transport = WebSocketTransport(websocket, streams)
    session = StreamSession(streams, transport)
    watch = end_when_gone(session, websocket.receive, "websocket.disconnect")
    watcher = asyncio.get_running_loop().create_task(watch)
    try:
        with suppress(*_GONE):
            await session.run(request.principal, subscription, request.options.last_event_id)
    finally:
        watcher.cancel()
    code = transport.close_code
    if code is not None:
        if transport.close_reason == "expired":  # the stream's lifetime, or its credential's?
            code = ws_close_code("expired", request.principal.expires_at <= time.time() + 1)
        with suppress(Exception):
            await websocket.close(code=code, reason=transport.close_reason)


async def _admit(
    websocket: WebSocket, runtime: Runtime, kind: Kind
) -> tuple[StreamRequest, Subscription] | None:
    """The stream's reader, then policy; a refusal closes with 4000 + its HTTP status."""
    incoming = Incoming.of(websocket.scope)
    try:
        try:
            request = readers.read_stream(incoming, kind, runtime)
        except readers.NoCredential:
            token = await _auth_token(websocket)
            if token is None:
                return None
            request = readers.read_stream(incoming, kind, runtime, token=token)
        return request, runtime.streams.subscribe(request)
    except RequestValidationError as exc:
        await _refuse(websocket, InvalidRequest(_first_problem(exc)))
    except DomainError as exc:
        await _refuse(websocket, exc)
    except WebSocketDisconnect:
        pass
    return None


def _first_problem(exc: RequestValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"


async def _refuse(websocket: WebSocket, exc: DomainError) -> None:
    code = ws_refusal_code(exc)
    log_refusal(websocket.scope, status_of(exc), exc.detail)
    with suppress(Exception):
        await websocket.close(code=code, reason=exc.detail[:120])


async def _auth_token(websocket: WebSocket) -> str | None:
    """The first message's token; None when the socket was closed for a bad message (1008)
    or for not sending one in time (4401)."""
    try:
        first = await asyncio.wait_for(_auth_message(websocket), AUTH_TIMEOUT)
    except TimeoutError:
        await _refuse(websocket, readers.NoCredential())
        return None
    if first is None:  # not a message at all
        with suppress(Exception):
            await websocket.close(code=WS_POLICY, reason="expected an auth message first")
        return None
    if first.get("type") != "auth":
        await _refuse(websocket, readers.NoCredential())
        return None
    return str(first.get("token", ""))


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
        self.close_code, self.close_reason = ws_refusal_code(exc), exc.detail[:120]

    async def start(self, hello: bytes) -> None:
        await self.write_when_ready(hello)

    async def write_when_ready(self, data: bytes) -> None:
        for message in frames_as_json(data):
            await self.websocket.send_text(message)

    def end(self, reason: CloseReason | None) -> None:
        self.close_code = ws_close_code(reason, credential_ended=False)
        self.close_reason = reason or ""

    def abort(self) -> None:
        if self._socket is not None:
            self._socket.abort()

    def unsent(self) -> int:
        return socket_unsent(self._socket)
