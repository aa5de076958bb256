"""The seed's "WebSocket fallback": the same hub connection as a stream, over a WebSocket.

Each event is one text message `{"event": ..., "id": ..., "data": {...}}`. The client
authenticates with an `Authorization` header or, from a browser (which cannot set one),
with a first message `{"type": "auth", "token": "..."}`; tokens never go in the URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, suppress

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.api import credentials
from app.api.errors import note_refusal
from app.api.streaming import Replay, pump, replay_then_go_live, transport_abort
from app.core.notification_manager import NotificationManager, Subscription
from app.core.security import InvalidToken, Principal, decode_token
from app.core.sse import frames_as_json, now_iso
from app.services.errors import DomainError, LimitExceeded, PermissionDenied

AUTH_TIMEOUT = 10.0
MAX_AUTH_MESSAGE = 8192  # characters: a token and a few keys
CLOSE_NORMAL, CLOSE_POLICY, CLOSE_TRY_AGAIN = 1000, 1008, 1013
CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN, CLOSE_INVALID, CLOSE_LIMITED = 4401, 4403, 4422, 4429


async def serve_websocket(
    websocket: WebSocket,
    subscribe: Callable[[Principal], Subscription],
    replay: Callable[[Subscription], Replay | None],
    admit: Callable[[Principal, Subscription], AbstractAsyncContextManager[None]] | None = None,
    deadline: Callable[[Principal], float] | None = None,
) -> None:
    """Accept, authenticate, subscribe, pass the limits (`admit`), then forward what the hub
    queues until either side ends or the `deadline` (default: the token's expiry) passes."""
    await websocket.accept()
    principal = await _authenticate(websocket)
    if principal is None:
        return
    try:
        subscription = subscribe(principal)
    except DomainError as exc:
        code = CLOSE_FORBIDDEN if isinstance(exc, PermissionDenied) else CLOSE_INVALID
        await websocket.close(code=code, reason=exc.detail[:120])
        return
    manager: NotificationManager = websocket.app.state.manager
    slots = AsyncExitStack()
    try:
        if admit is not None:
            await slots.enter_async_context(admit(principal, subscription))
    except LimitExceeded as exc:
        note_refusal(websocket.scope, 429, exc.detail, manager.metrics, exc.limit)
        await websocket.close(code=CLOSE_LIMITED, reason=exc.detail[:120])
        return
    ends_at = deadline(principal) if deadline is not None else principal.expires_at

    async def write(chunk: bytes) -> None:
        for message in frames_as_json(chunk):
            await websocket.send_text(message)

    async def watch() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    missed = replay(subscription)
    async with slots:
        with manager.connect(subscription, missed is not None) as conn:
            conn.abort = transport_abort(websocket.scope)
            hello = {
                "event": "connected",
                "data": {**subscription.hello(), "server_time": now_iso()},
            }
            await websocket.send_text(orjson.dumps(hello).decode())
            with suppress(WebSocketDisconnect, RuntimeError, OSError):
                metrics = manager.metrics
                if await replay_then_go_live(conn, missed, write, metrics):
                    await pump(conn, ends_at, watch(), write, metrics)
    if conn.close_reason != "client_gone":
        with suppress(Exception):
            code = CLOSE_TRY_AGAIN if conn.close_reason == "slow_consumer" else CLOSE_NORMAL
            await websocket.close(code=code, reason=conn.close_reason or "")


async def _authenticate(websocket: WebSocket) -> Principal | None:
    header = websocket.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else None
    try:
        if token is None:
            first = await asyncio.wait_for(_auth_message(websocket), AUTH_TIMEOUT)
            if first is None:
                await websocket.close(code=CLOSE_POLICY, reason="expected an auth message first")
                return None
            if first.get("type") != "auth":
                raise InvalidToken("expected an auth message first")
            token = str(first.get("token", ""))
        state = websocket.app.state
        principal = decode_token(token, secret=state.settings.secret_key)
        return credentials.unrevoked(principal, state.revocations)
    except (InvalidToken, TimeoutError, ValueError, KeyError):
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
    if len(text) > MAX_AUTH_MESSAGE:
        return None
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return message if isinstance(message, dict) else None
