"""The hub: live connections of this process, indexed so routing costs O(recipients).

The broker carries one envelope per notification: a small routing header and the SSE
frame, serialized once by the publisher. The hub reads the header, looks up the
recipients in its indexes and hands each the same bytes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Literal

import orjson

from app.broker import Broker
from app.core.sse import ping_frame

logger = logging.getLogger(__name__)

Kind = Literal["admin", "customer"]
CloseReason = Literal["client_gone", "slow_consumer", "shutdown", "expired"]
PING_BATCH = 500  # connections pinged per loop iteration, so a sweep never stalls the loop


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
    """What the hub needs to know of a notification: who gets it, and what clients filter on."""

    recipient_type: str
    recipient_id: int | None
    salon_id: int | None
    notification_type: str = ""
    priority: int = 0  # rank: low 0, normal 1, high 2, urgent 3


def encode_envelope(route: Route, frame: bytes) -> bytes:
    header = orjson.dumps(
        [
            route.recipient_type,
            route.recipient_id,
            route.salon_id,
            route.notification_type,
            route.priority,
        ]
    )
    return header + b"\n" + frame


def decode_envelope(message: bytes) -> tuple[Route, bytes]:
    header, _, frame = message.partition(b"\n")
    return Route(*orjson.loads(header)), frame


class Connection:
    """One client's stream: a bounded list of pending frames and at most one waiting future."""

    __slots__ = (
        "_max_pending",
        "_pending",
        "_waiter",
        "close_reason",
        "events_sent",
        "opened_at",
        "subscription",
    )

    def __init__(self, subscription: Subscription, max_pending: int) -> None:
        self.subscription = subscription
        self.opened_at = time.monotonic()
        self.events_sent = 0
        self.close_reason: CloseReason | None = None
        self._max_pending = max_pending
        self._pending: list[bytes] = []
        self._waiter: asyncio.Future[None] | None = None

    def wants(self, route: Route) -> bool:
        """The client's own filter (types, lowest priority); routing is checked before."""
        sub = self.subscription
        return route.priority >= sub.min_priority and (
            sub.types is None or route.notification_type in sub.types
        )

    def push(self, frame: bytes) -> None:
        """Queue a frame without waiting; a client too far behind is closed, not waited for."""
        if self.close_reason is not None:
            return
        if len(self._pending) >= self._max_pending:
            self.close("slow_consumer")
            return
        self._pending.append(frame)
        self._wake()

    def close(self, reason: CloseReason) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            if reason != "shutdown":  # on shutdown, what is queued is still written
                self._pending.clear()
            self._wake()

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
        pending = self._pending
        chunk = pending[0] if len(pending) == 1 else b"".join(pending)
        self.events_sent += len(pending)
        pending.clear()
        return chunk

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class NotificationManager:
    def __init__(
        self, broker: Broker, channel: str, *, ping_interval: float, max_pending: int
    ) -> None:
        self._broker = broker
        self._channel = channel
        self._ping_interval = ping_interval
        self._max_pending = max_pending
        self._admins_by_salon: dict[int, set[Connection]] = {}
        self._admins_by_user: dict[int, set[Connection]] = {}
        self._customers: dict[int, set[Connection]] = {}
        self._connections: set[Connection] = set()
        self._ping_task: asyncio.Task[None] | None = None
        self._stopped = False
        self.slow_consumers_dropped = 0

    async def start(self) -> None:
        await self._broker.subscribe(self._channel, self.dispatch)
        self._ping_task = asyncio.get_running_loop().create_task(self._ping_forever())

    async def stop(self) -> None:
        """Stop pinging, stop listening, and end every stream after what it has queued."""
        self._stopped = True
        if self._ping_task is not None:
            self._ping_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._ping_task
            self._ping_task = None
        await self._broker.unsubscribe(self._channel, self.dispatch)
        for connection in tuple(self._connections):
            connection.close("shutdown")

    @contextmanager
    def connect(self, subscription: Subscription) -> Iterator[Connection]:
        """Register a connection for the duration of the block; always unregistered after."""
        connection = Connection(subscription, self._max_pending)
        if self._stopped:  # opened during shutdown: it ends at once, the client goes elsewhere
            connection.close("shutdown")
        self._add(connection)
        try:
            yield connection
        finally:
            self._remove(connection)

    def dispatch(self, message: bytes) -> None:
        """Broker handler: route one envelope to the local recipients."""
        route, frame = decode_envelope(message)
        for connection in self.recipients(route):
            if connection.wants(route):
                connection.push(frame)

    def recipients(self, route: Route) -> Iterable[Connection]:
        """The seed's routing rules, as index look-ups."""
        recipient_type, recipient_id, salon_id = (
            route.recipient_type,
            route.recipient_id,
            route.salon_id,
        )
        if recipient_type == "salon" and salon_id is not None:
            return tuple(self._admins_by_salon.get(salon_id, ()))
        if recipient_type == "user" and recipient_id is not None:
            return [
                c
                for c in self._admins_by_user.get(recipient_id, ())
                if c.subscription.salon_id == salon_id
            ]
        if recipient_type == "customer" and recipient_id is not None:
            return [
                c
                for c in self._customers.get(recipient_id, ())
                if c.subscription.salon_filter in (None, salon_id)
            ]
        return ()

    def stats(self) -> dict[str, object]:
        admins = sorted(
            {
                (salon_id, c.subscription.user_id)
                for salon_id, connections in self._admins_by_salon.items()
                for c in connections
            }
        )
        customers = sorted(self._customers)
        admin_count = sum(len(s) for s in self._admins_by_user.values())
        customer_count = sum(len(s) for s in self._customers.values())
        return {
            "active_admin_connections": admin_count,
            "active_customer_connections": customer_count,
            "total_connections": admin_count + customer_count,
            "admins": [list(pair) for pair in admins],
            "customers": customers,
        }

    def _add(self, connection: Connection) -> None:
        self._connections.add(connection)
        sub = connection.subscription
        if sub.kind == "admin" and sub.salon_id is not None:
            self._admins_by_salon.setdefault(sub.salon_id, set()).add(connection)
            self._admins_by_user.setdefault(sub.user_id, set()).add(connection)
        else:
            self._customers.setdefault(sub.user_id, set()).add(connection)

    def _remove(self, connection: Connection) -> None:
        self._connections.discard(connection)
        if connection.close_reason == "slow_consumer":
            self.slow_consumers_dropped += 1
        sub = connection.subscription
        if sub.kind == "admin" and sub.salon_id is not None:
            _discard(self._admins_by_salon, sub.salon_id, connection)
            _discard(self._admins_by_user, sub.user_id, connection)
        else:
            _discard(self._customers, sub.user_id, connection)

    async def _ping_forever(self) -> None:
        """One timer for every connection; each sweep is written a batch at a time."""
        while True:
            await asyncio.sleep(self._ping_interval)
            frame = ping_frame()
            connections = tuple(self._connections)
            for start in range(0, len(connections), PING_BATCH):
                for connection in connections[start : start + PING_BATCH]:
                    connection.push(frame)
                await asyncio.sleep(0)


def _discard(index: dict[int, set[Connection]], key: int, connection: Connection) -> None:
    bucket = index.get(key)
    if bucket is not None:
        bucket.discard(connection)
        if not bucket:
            del index[key]
