"""Writing notifications: one transaction at a time per process, concurrent ones grouped.

Every transaction that creates notifications holds the process's write lock and, on
PostgreSQL, an advisory lock taken before its first insert: ids are then given and
committed in one order across all instances, so whoever has seen id N has seen every
committed id below it (the delivery sequencer and replay rely on that). Requests that
arrive while a transaction is in flight are not queued one by one behind it: the next
holder of the lock writes all of them in one transaction (group commit), with one
INSERT ... RETURNING id for the whole group (no ORM unit of work).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.base import utcnow
from app.db.repositories.notifications import insert_notifications
from app.schemas.notification import NotificationCreate
from app.services.publishing import NotificationPublisher
from app.services.routing import RoutingCache
from app.services.stored import StoredNotification

NOTIFICATION_WRITE_LOCK = 0x5A10_0001
# Notifications in one grouped transaction: as many as one batch request, since a group's
# rows are built and read back without a pause, and the event loop must not wait long.
MAX_GROUP = 500


@dataclass(eq=False)
class _Request:
    items: Sequence[NotificationCreate]
    done: asyncio.Future[list[StoredNotification]]
    taken: bool = False  # in a group being written, or written


Written = list[tuple[list[_Request], list[StoredNotification]]]


class NotificationWriter:
    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], publisher: NotificationPublisher
    ) -> None:
        self.session_factory = session_factory
        self.publisher = publisher
        self.routing = RoutingCache()  # the routing checks' known salons and accounts
        self._lock = asyncio.Lock()
        self._waiting: deque[_Request] = deque()
        self._published = asyncio.Event()  # the last group committed has been published
        self._published.set()

    async def create(self, items: Sequence[NotificationCreate]) -> list[StoredNotification]:
        """Store already validated notifications (all or none), then publish them in order;
        returns once they are handed to the broker."""
        request = _Request(items, asyncio.get_running_loop().create_future())
        self._waiting.append(request)
        written: Written = []
        failure: BaseException | None = None
        async with self._lock:
            while not request.taken:  # nobody wrote ours while we waited: write what waits
                group = self._take_group()
                try:
                    stored = await self._write([item for r in group for item in r.items])
                except BaseException as exc:
                    for r in group:
                        r.done.set_exception(exc)
                    failure = exc
                    break
                written.append((group, stored))
            if failure is not None and not request.taken:
                self._waiting.remove(request)
            if written:  # our turn to publish: after every group committed before ours
                previous, self._published = self._published, asyncio.Event()
                turn = self._published
        if written:
            # Published after the lock: a slow bus holds up nobody's commit. In commit order:
            # a hub's sequencer given ids out of order reads the gap from the database.
            # Shielded: a cancelled caller still publishes what it wrote, and passes the turn.
            await asyncio.shield(self._publish(previous, turn, written))
        if failure is not None:
            if request.done.done():
                request.done.exception()  # retrieved: raised here
            raise failure
        return await request.done

    async def _publish(
        self, previous: asyncio.Event, turn: asyncio.Event, written: Written
    ) -> None:
        try:
            await previous.wait()
            await self.publisher.publish([n for _, stored in written for n in stored])
        finally:
            turn.set()
            for group, stored in written:
                start = 0
                for r in group:
                    r.done.set_result(stored[start : start + len(r.items)])
                    start += len(r.items)

    @asynccontextmanager
    async def transaction(self, session: AsyncSession) -> AsyncIterator[None]:
        """For a caller whose own rows go with its notifications (an appointment and the
        notification it produces): hold the locks for its transaction, roll back on error."""
        async with self._lock:
            try:
                await lock_for_notifications(session)
                yield
            except BaseException:
                await session.rollback()
                raise

    def _take_group(self) -> list[_Request]:
        group: list[_Request] = []
        size = 0
        while self._waiting and (not group or size + len(self._waiting[0].items) <= MAX_GROUP):
            request = self._waiting.popleft()
            request.taken = True
            group.append(request)
            size += len(request.items)
        return group

    async def _write(self, items: list[NotificationCreate]) -> list[StoredNotification]:
        now = utcnow()  # one transaction, one creation time
        rows = [{**item.model_dump(), "created_at": now, "is_read": False} for item in items]
        async with self.session_factory() as session:
            ids = await insert_notifications(session, rows, NOTIFICATION_WRITE_LOCK)
        return [StoredNotification(id=id_, **row) for id_, row in zip(ids, rows, strict=True)]


async def lock_for_notifications(session: AsyncSession) -> None:
    """PostgreSQL: serialize notification inserts across instances until this commit."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": NOTIFICATION_WRITE_LOCK}
        )
