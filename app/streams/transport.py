"""What a stream session needs of whatever carries its bytes to the client."""

from __future__ import annotations

from typing import Protocol

from app.core.connection import CloseReason
from app.services.errors import LimitExceeded


class Transport(Protocol):
    """A stream's way to its client: the direct socket (app/api/transports/direct.py), an
    ASGI response (sse.py) or a WebSocket (websocket.py).

    A `driven` transport is written by the flusher when the hub wakes the session: `write`
    never waits, and there is no task per stream. The others are pumped by their request's
    own task, which awaits `write_when_ready`.
    """

    driven: bool

    async def refuse(self, exc: LimitExceeded) -> None:
        """Answer a refusal by the limits; nothing was sent before."""

    async def start(self, hello: bytes) -> None:
        """Send the response's head and the session's first frames."""

    async def write_when_ready(self, data: bytes) -> None:
        """Send SSE frames once the client's socket can take them."""

    def end(self, reason: CloseReason | None) -> None:
        """End the stream as `reason` asks (None: an error); never called once the client
        has gone. A stream whose client stopped reading is dropped, not ended politely."""

    def abort(self) -> None:
        """Drop the socket now: a write is stuck on a client that stopped reading."""

    def unsent(self) -> int:
        """Bytes handed to the socket that its client has not taken yet (0 when unknown)."""


class DrivenTransport(Transport, Protocol):
    """A transport the flusher writes synchronously (`driven` is True)."""

    @property
    def writable(self) -> bool:
        """False while the client's socket buffer is full: what is pending waits."""

    def write(self, data: bytes) -> None:
        """Send SSE frames now; never waits."""
