"""The hub: live connections of this process, indexed so routing costs O(recipients).

It is fed by the delivery sequencer (app/services/delivery.py), which hands it each
notification once, in id order; it pings every connection from one timer and ends
them, spread over a drain window, when the process stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from app.core.connection import (
    DEFAULT_MAX_PENDING_BYTES,
    Connection,
    Kind,
    Route,
    Sink,
    Subscription,
)
from app.core.metrics import Metrics
from app.core.sse import ping_frame
from app.core.tasks import cancel_and_wait

__all__ = [
    "Connection",
    "Hub",
    "Kind",
    "Route",
    "Subscription",
]

logger = logging.getLogger(__name__)

PING_BATCH = 500  # connections pinged per loop iteration, so a sweep never stalls the loop


class Hub:
    def __init__(
        self,
        *,
        ping_interval: float,
        max_pending: int,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self._ping_interval = ping_interval
        self._max_pending = max_pending
        self._max_pending_bytes = max_pending_bytes
        self._admins_by_salon: dict[int, set[Connection]] = {}
        self._admins_by_user: dict[int, set[Connection]] = {}
        self._customers: dict[int, set[Connection]] = {}
        self._connections: set[Connection] = set()
        self._ping_task: asyncio.Task[None] | None = None
        self._stopped = False
        self.version = 0  # grows whenever a connection comes or goes
        self.slow_consumers_dropped = 0
        # Web Push (app/push/receipts.py): users with push subscriptions, and who is told
        # when one of their streams here gets a notification (then they are not pushed).
        self.watched_users: set[int] = set()
        self.on_watched_delivery: Callable[[int, int], None] | None = None

    async def start(self) -> None:
        self._ping_task = asyncio.get_running_loop().create_task(self._ping_forever())

    async def drain(self, window: float) -> None:
        """Refuse new streams and end the open ones spread over `window` seconds, so their
        clients don't all reconnect elsewhere in the same instant."""
        self._stopped = True
        connections = sorted(self._connections, key=lambda c: c.opened_at)
        steps = max(1, min(len(connections), int(window * 20)))
        for step in range(steps):
            for connection in connections[step::steps]:
                connection.close("shutdown")
            if step < steps - 1:
                await asyncio.sleep(window / steps)

    async def stop(self) -> None:
        """Stop pinging and end every stream at once, after what it has queued."""
        self._stopped = True
        await cancel_and_wait(self._ping_task)
        self._ping_task = None
        for connection in tuple(self._connections):
            connection.close("shutdown")

    @contextmanager
    def connect(self, subscription: Subscription, replaying: bool = False) -> Iterator[Connection]:
        """Register a connection for the duration of the block; always unregistered after."""
        connection = self.register(subscription, replaying)
        try:
            yield connection
        finally:
            self.unregister(connection)

    def register(
        self, subscription: Subscription, replaying: bool = False, sink: Sink | None = None
    ) -> Connection:
        """A new live connection, indexed; whoever registers it must `unregister` it.
        `replaying`: live notifications are held from this very moment until `release`
        (before the first await, so none slips in ahead of the replay)."""
        connection = Connection(subscription, self._max_pending, sink, self._max_pending_bytes)
        if replaying:
            connection.hold()
        if self._stopped:  # opened during shutdown: it ends at once, the client goes elsewhere
            connection.close("shutdown")
        self._add(connection)
        return connection

    def unregister(self, connection: Connection) -> None:
        if connection in self._connections:
            self._remove(connection)

    def end_revoked(self, user_id: int, sid: str | None, revoked_at: float) -> None:
        """End the user's streams opened with a revoked credential: the session `sid`'s, or
        (sid None) every one issued before `revoked_at`. Their clients reconnect and are
        refused."""
        connections = (*self._admins_by_user.get(user_id, ()), *self._customers.get(user_id, ()))
        for connection in connections:
            sub = connection.subscription
            if (sub.sid == sid) if sid is not None else (sub.issued_at < revoked_at):
                connection.close("revoked")

    def deliver(self, route: Route, frame: bytes) -> int:
        """Push one notification's frame to its local recipients; returns how many."""
        count = 0
        watched = self.watched_users  # empty unless someone has push subscriptions
        for connection in self.recipients(route):
            if connection.wants(route):
                connection.push(frame, route.id, route.created_at)
                count += 1
                if watched and connection.subscription.user_id in watched:
                    self._reached(route.id, connection.subscription.user_id)
        return count

    def replayed(self, user_id: int, ids: Iterable[int]) -> None:
        """A stream of `user_id` was sent these by replay: received, as a live delivery is."""
        if user_id in self.watched_users:
            for notification_id in ids:
                self._reached(notification_id, user_id)

    def _reached(self, notification_id: int, user_id: int) -> None:
        if self.on_watched_delivery is not None:
            self.on_watched_delivery(notification_id, user_id)

    def recipients(self, route: Route) -> Iterable[Connection]:
        """The seed's routing rules, as index look-ups."""
        kind, recipient_id, salon_id = route.recipient_type, route.recipient_id, route.salon_id
        if kind == "salon" and salon_id is not None:
            return tuple(self._admins_by_salon.get(salon_id, ()))
        if kind == "user" and recipient_id is not None:
            return [
                c
                for c in self._admins_by_user.get(recipient_id, ())
                if c.subscription.salon_id == salon_id
            ]
        if kind == "customer" and recipient_id is not None:
            return [
                c
                for c in self._customers.get(recipient_id, ())
                if c.subscription.salon_filter in (None, salon_id)
            ]
        return ()

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def admin_streams_by_salon(self) -> list[list[int]]:
        """[salon_id, admin streams open] for every salon with one."""
        return [[salon, len(c)] for salon, c in self._admins_by_salon.items() if c]

    def stats(self) -> dict[str, Any]:
        """This process's connections, in the contract's shape."""
        admins = sorted(
            {
                (salon_id, c.subscription.user_id)
                for salon_id, connections in self._admins_by_salon.items()
                for c in connections
            }
        )
        admin_count = sum(len(s) for s in self._admins_by_salon.values())
        customer_count = sum(len(s) for s in self._customers.values())
        return {
            "active_admin_connections": admin_count,
            "active_customer_connections": customer_count,
            "total_connections": admin_count + customer_count,
            "admins": [list(pair) for pair in admins],
            "customers": sorted(self._customers),
            "slow_consumers_dropped": self.slow_consumers_dropped,
        }

    def _add(self, connection: Connection) -> None:
        self._connections.add(connection)
        self.version += 1
        sub = connection.subscription
        self.metrics.stream_opened(sub.kind)
        if sub.kind == "admin" and sub.salon_id is not None:
            self._admins_by_salon.setdefault(sub.salon_id, set()).add(connection)
            self._admins_by_user.setdefault(sub.user_id, set()).add(connection)
        else:
            self._customers.setdefault(sub.user_id, set()).add(connection)

    def _remove(self, connection: Connection) -> None:
        self._connections.discard(connection)
        self.version += 1
        sub, metrics = connection.subscription, self.metrics
        reason = connection.close_reason or "error"
        if reason == "slow_consumer":
            self.slow_consumers_dropped += 1
            metrics.slow_consumers.inc()
        metrics.stream_closed(sub.kind, reason, time.monotonic() - connection.opened_at)
        if connection.dropped:
            metrics.failed.inc(connection.dropped)
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
