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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.base import utcnow
from app.db.repositories.notifications import insert_notifications
from app.schemas.notification import NotificationCreate
from app.services.publishing import NotificationPublisher
from app.services.routing import RoutingCache
from app.services.stored import StoredNotification

NOTIFICATION_WRITE_LOCK = 0x5A10_0001
Waiting = tuple[Sequence[NotificationCreate], "asyncio.Future[list[StoredNotification]]"]
MAX_GROUP = 2000  # notifications in one grouped transaction


class NotificationWriter:
    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], publisher: NotificationPublisher
    ) -> None:
        self.session_factory = session_factory
        self.publisher = publisher
        self.routing = RoutingCache()  # the routing checks' known salons and accounts
        self._lock = asyncio.Lock()
        self._waiting: deque[Waiting] = deque()

    async def create(self, items: Sequence[NotificationCreate]) -> list[StoredNotification]:
        """Store already validated notifications (all or none), then publish them in order."""
        done: asyncio.Future[list[StoredNotification]] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, done))
        stored: list[StoredNotification] = []
        async with self._lock:
            while not done.done():  # nobody wrote ours while we waited: write what waits
                group = self._take_group()
                try:
                    written = await self._write([item for items, _ in group for item in items])
                except BaseException as exc:
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    raise
                stored += written
                start = 0
                for items_, future in group:
                    future.set_result(written[start : start + len(items_)])
                    start += len(items_)
        # Published after the lock: a slow bus holds up nobody's commit. Order across
        # groups doesn't matter: every hub's sequencer delivers in id order.
        await self.publisher.publish(stored)
        return await done

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

    def _take_group(self) -> list[Waiting]:
        group: list[Waiting] = []
        size = 0
        while self._waiting and (not group or size + len(self._waiting[0][0]) <= MAX_GROUP):
            entry = self._waiting.popleft()
            group.append(entry)
            size += len(entry[0])
        return group

    async def _write(self, items: list[NotificationCreate]) -> list[StoredNotification]:
        now = utcnow()  # one transaction, one creation time
        rows = [{**item.model_dump(), "created_at": now, "is_read": False} for item in items]
        async with self.session_factory() as session:
            await lock_for_notifications(session)
            ids = await insert_notifications(session, rows)
            await session.commit()
        return [StoredNotification(id=id_, **row) for id_, row in zip(ids, rows, strict=True)]


async def lock_for_notifications(session: AsyncSession) -> None:
    """PostgreSQL: serialize notification inserts across instances until this commit."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": NOTIFICATION_WRITE_LOCK}
        )
