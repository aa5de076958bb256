"""The Broker contract: bytes on named channels between processes, nothing about users or SSE."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

Handler = Callable[[bytes], None]


class BrokerError(Exception):
    """The broker could not carry a message."""


class Broker(Protocol):
    # Messages per publish_many the publisher hands over at most: a broker that calls the
    # handlers inline (memory) wants few, so that the event loop is never held for long;
    # one that only sends them (Redis) wants many per round trip.
    batch_size: int

    async def start(self) -> None:
        """Connect; called once before any other method."""

    async def stop(self) -> None:
        """Disconnect and drop every subscription."""

    async def publish(self, channel: str, message: bytes) -> None:
        """Send `message` to every subscriber of `channel`, in this process and others."""

    async def publish_many(self, channel: str, messages: Sequence[bytes]) -> None:
        """`publish` each of `messages` in order, in one round trip where the backend can."""

    async def subscribe(self, channel: str, handler: Handler) -> None:
        """Call `handler(message)` synchronously on the event loop for each message."""

    async def unsubscribe(self, channel: str, handler: Handler) -> None:
        """Stop calling `handler` for `channel`."""

    async def ping(self) -> bool:
        """True when the broker answers (used by readiness)."""
