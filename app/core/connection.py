"""One live client, what it listens to, and the envelope a notification travels in.

The broker carries one envelope per notification: a small routing header and the SSE
frame, serialized once by the publisher. Every hub reads the header and hands each
recipient the same bytes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import orjson

Kind = Literal["admin", "customer"]
CloseReason = Literal["client_gone", "slow_consumer", "shutdown", "expired"]


@dataclass(frozen=True, slots=True)
class Subscription:
    """What one connection listens to: its principal's routing key and its own filter."""

    kind: Kind
    user_id: int
    salon_id: int | None = None  # an admin's salon
    salon_filter: int | None = None  # a customer's choice of one salon
    types: frozenset[str] | None = None
    min_priority: int = 0

    def __post_init__(self) -> None:
        if self.kind == "admin" and self.salon_id is None:
            raise ValueError(f"admin subscription of user {self.user_id} needs a salon_id")

    def hello(self) -> dict[str, int | None]:
        """The principal's ids, as the `connected` event names them."""
        if self.kind == "admin":
            return {"user_id": self.user_id, "salon_id": self.salon_id}
        return {"customer_id": self.user_id, "salon_id": self.salon_filter}


@dataclass(frozen=True, slots=True)
class Route:
    """What the hub needs to know of a notification: its id, who gets it, what clients filter on."""

    id: int
    recipient_type: str
    recipient_id: int | None
    salon_id: int | None
    notification_type: str = ""
    priority: int = 0  # rank: low 0, normal 1, high 2, urgent 3
    created_at: float = 0.0  # epoch seconds, for delivery latency


class Sink(Protocol):
    """Where a connection's frames go when no task waits on `take` (see app.streams.session)."""

    def wake(self) -> None: ...


def encode_envelope(route: Route, frame: bytes) -> bytes:
    header = orjson.dumps(
        [
            route.id,
            route.recipient_type,
            route.recipient_id,
            route.salon_id,
            route.notification_type,
            route.priority,
            route.created_at,
        ]
    )
    return header + b"\n" + frame


def decode_envelope(message: bytes) -> tuple[Route, bytes]:
    header, _, frame = message.partition(b"\n")
    return Route(*orjson.loads(header)), frame


class Connection:
    """One client's stream: a bounded list of pending frames and at most one waiting future.

    Notifications reach it in id order and at most once: `last_id` drops anything not
    newer. While the stream replays what the client missed, live ones are held aside
    and released after the replay, so the seam has no gap and no duplicate.
    """

    __slots__ = (
        "_held",
        "_max_pending",
        "_notes",
        "_oldest",
        "_pending",
        "_waiter",
        "abort",
        "chunk_notes",
        "chunk_oldest",
        "close_reason",
        "dropped",
        "events_sent",
        "last_id",
        "opened_at",
        "sink",
        "subscription",
        "writing",
    )

    def __init__(
        self, subscription: Subscription, max_pending: int, sink: Sink | None = None
    ) -> None:
        self.subscription = subscription
        # A sink is woken instead of a waiting task, and takes the frames with `take_nowait`.
        self.sink = sink
        self.opened_at = time.monotonic()
        self.events_sent = 0
        self.last_id = 0
        self.close_reason: CloseReason | None = None
        self._max_pending = max_pending
        self._pending: list[bytes] = []
        self._held: list[tuple[int, bytes, float]] | None = None
        # Notifications among the pending frames, and the creation time of the oldest.
        self._notes = 0
        self._oldest = 0.0
        self.chunk_notes = 0  # the same, for the chunk `take` returned last
        self.chunk_oldest = 0.0
        self.dropped = 0  # notifications discarded when the connection was closed
        self._waiter: asyncio.Future[None] | None = None
        # Set by the transport: drops the socket when a write is stuck on a client that
        # stopped reading (a polite close would wait to flush to it forever).
        self.abort: Callable[[], None] | None = None
        self.writing = False

    def wants(self, route: Route) -> bool:
        """The client's own filter (types, lowest priority); routing is checked before."""
        sub = self.subscription
        return route.priority >= sub.min_priority and (
            sub.types is None or route.notification_type in sub.types
        )

    def push(self, frame: bytes, event_id: int | None = None, created_at: float = 0.0) -> None:
        """Queue a frame without waiting; a client too far behind is closed, not waited for."""
        if self.close_reason is not None:
            return
        if event_id is not None:
            if event_id <= self.last_id:
                return
            if self._held is not None:
                self._held.append((event_id, frame, created_at))
                if len(self._held) > self._max_pending:
                    self.close("slow_consumer")
                return
            self.last_id = event_id
            if not self._notes:
                self._oldest = created_at
            self._notes += 1
        if len(self._pending) >= self._max_pending:
            self.close("slow_consumer")
            return
        self._pending.append(frame)
        self._wake()

    def hold(self) -> None:
        """Keep live notifications aside until `release` (while replaying)."""
        self._held = []

    def release(self, replayed_through: int) -> None:
        """Queue the held notifications newer than the replay, then go live."""
        held, self._held = self._held or [], None
        self.last_id = max(self.last_id, replayed_through)
        for event_id, frame, created_at in held:
            self.push(frame, event_id, created_at)

    def close(self, reason: CloseReason) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            if reason != "shutdown":  # on shutdown, what is queued is still written
                self.dropped = self._notes + len(self._held or ())
                self._pending.clear()
                self._notes = 0
            self._wake()
            if self.writing and self.abort is not None and reason != "client_gone":
                self.abort()

    async def take(self) -> bytes | None:
        """Everything pending as one chunk (coalesced writes), or None once closed and drained."""
        while not self._pending:
            if self.close_reason is not None:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.take_nowait()

    def take_nowait(self) -> bytes:
        """Everything pending as one chunk, b"" if nothing is."""
        pending = self._pending
        if not pending:
            return b""
        chunk = pending[0] if len(pending) == 1 else b"".join(pending)
        self.events_sent += len(pending)
        pending.clear()
        self.chunk_notes, self.chunk_oldest, self._notes = self._notes, self._oldest, 0
        return chunk

    def _wake(self) -> None:
        if self.sink is not None:
            self.sink.wake()
            return
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
