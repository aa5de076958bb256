"""Writing notifications: one transaction at a time per process, concurrent ones grouped.

Every transaction that creates notifications holds the process's write lock and, on
PostgreSQL, an advisory lock taken before its first insert: ids are then given and
committed in one order across all instances, so whoever has seen id N has seen every
committed id below it (the delivery sequencer and replay rely on that). Requests that
arrive while a transaction is in flight are not queued one by one behind it: the next
holder of the lock writes all of them in one transaction (group commit), with one
INSERT ... RETURNING id for the whole group (no ORM unit of work). A caller whose own
rows go with its notifications (appointments) joins the same path with its transaction.
A group of its own skips the ORM session: the backend's GroupInsert (one thread hop on
SQLite, one round trip on PostgreSQL) writes and commits it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from operator import attrgetter

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.base import utcnow
from app.db.repositories.notification_groups import group_insert_for
from app.db.repositories.notifications import (
    COLUMNS,
    insert_notifications,
    lock_notification_writes,
)
from app.schemas.notification import NotificationCreate
from app.services.publishing import NotificationPublisher
from app.services.stored import StoredNotification

NOTIFICATION_WRITE_LOCK = 0x5A10_0001
# Notifications in one grouped transaction: as many as one batch request, since a group's
# rows are built and read back without a pause, and the event loop must not wait long.
MAX_GROUP = 500
_ROW = attrgetter(*COLUMNS)  # a notification's values as the inserts bind them


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
        self.group_insert = group_insert_for(session_factory.kw["bind"])
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
                    stored = await self._write_group([i for r in group for i in r.items])
                except BaseException as exc:
                    for r in group:
                        r.done.set_exception(exc)
                    failure = exc
                    break
                written.append((group, stored))
            if failure is not None and not request.taken:
                self._waiting.remove(request)
            if written:  # our turn to publish: after every group committed before ours
                previous, turn = self._take_turn()
        if written:
            # Published after the lock: a slow bus holds up nobody's commit.
            # Shielded: a cancelled caller still publishes what it wrote, and passes the turn.
            stored = [n for _, group_stored in written for n in group_stored]
            await asyncio.shield(self._publish(previous, turn, stored, written))
        if failure is not None:
            if request.done.done():
                request.done.exception()  # retrieved: raised here
            raise failure
        return await request.done

    @asynccontextmanager
    async def joining(self, session: AsyncSession) -> AsyncIterator[list[NotificationCreate]]:
        """A transaction of the caller's `session` whose own rows go with notifications (an
        appointment and what it tells): what the caller appends to the yielded list (already
        validated) is inserted in that transaction, committed with the caller's rows or
        rolled back with them, then published in commit order like any group.

        The caller's work runs under the write lock and, on PostgreSQL, the advisory lock
        taken first: its own writes then never wait on a group's (SQLite has one write lock)
        nor hold a row another instance's locked transaction needs."""
        outbox: list[NotificationCreate] = []
        async with self._lock:
            try:
                await lock_notification_writes(session, NOTIFICATION_WRITE_LOCK)
                yield outbox
                stored = await self._write(session, outbox)
            except BaseException:
                await session.rollback()
                raise
            previous, turn = self._take_turn()
        await asyncio.shield(self._publish(previous, turn, stored, []))

    def _take_turn(self) -> tuple[asyncio.Event, asyncio.Event]:
        """Under the lock, in commit order: the event to wait for before publishing, and the
        one to set after (a hub's sequencer given ids out of order reads the database)."""
        previous, self._published = self._published, asyncio.Event()
        return previous, self._published

    async def _publish(
        self,
        previous: asyncio.Event,
        turn: asyncio.Event,
        stored: list[StoredNotification],
        written: Written,
    ) -> None:
        try:
            await previous.wait()
            await self.publisher.publish(stored)
        finally:
            turn.set()
            for group, group_stored in written:
                start = 0
                for r in group:
                    r.done.set_result(group_stored[start : start + len(r.items)])
                    start += len(r.items)

    def _take_group(self) -> list[_Request]:
        group: list[_Request] = []
        size = 0
        while self._waiting and (not group or size + len(self._waiting[0].items) <= MAX_GROUP):
            request = self._waiting.popleft()
            request.taken = True
            group.append(request)
            size += len(request.items)
        return group

    async def stop(self) -> None:
        """Let go of the group insert's thread or connection (the engine's are the pool's)."""
        await self.group_insert.close()

    async def _write_group(self, items: list[NotificationCreate]) -> list[StoredNotification]:
        now = utcnow()  # one transaction, one creation time
        stored = [StoredNotification.created(item, now) for item in items]
        ids = await self.group_insert.insert(
            [_ROW(n) for n in stored], now, NOTIFICATION_WRITE_LOCK
        )
        for notification, id_ in zip(stored, ids, strict=True):
            notification.id = id_
        return stored

    async def _write(
        self, session: AsyncSession, items: list[NotificationCreate]
    ) -> list[StoredNotification]:
        """In the caller's transaction (joining)."""
        now = utcnow()
        stored = [StoredNotification.created(item, now) for item in items]
        rows = [
            {**dict(zip(COLUMNS, _ROW(n), strict=True)), "created_at": now, "is_read": False}
            for n in stored
        ]
        ids = await insert_notifications(session, rows, NOTIFICATION_WRITE_LOCK)
        for notification, id_ in zip(stored, ids, strict=True):
            notification.id = id_
        return stored
