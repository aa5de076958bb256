"""Retention: notifications older than the configured age are purged by a periodic job.

What is purged is recorded as a watermark (the highest id deleted), so a client that
resumes from before it is told to reload (`event: reset`) instead of getting a silent gap.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.tasks import cancel_and_wait
from app.db.base import utcnow
from app.db.models import Notification, Watermark

logger = logging.getLogger(__name__)

PURGED_THROUGH = "notifications_purged_through"


async def purged_through(session: AsyncSession) -> int:
    """The highest notification id retention has deleted (0 if none)."""
    return int(
        await session.scalar(select(Watermark.value).where(Watermark.name == PURGED_THROUGH)) or 0
    )


async def purge_older_than(session: AsyncSession, age: timedelta) -> int:
    """Delete notifications older than `age` (every id up to the newest such); return how many."""
    through = await session.scalar(
        select(func.max(Notification.id)).where(Notification.created_at < utcnow() - age)
    )
    if through is None:
        return 0
    result = await session.execute(delete(Notification).where(Notification.id <= through))
    mark = await session.get(Watermark, PURGED_THROUGH)
    if mark is None:
        session.add(Watermark(name=PURGED_THROUGH, value=through))
    else:
        mark.value = max(mark.value, through)
    await session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


class RetentionJob:
    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], age: timedelta, interval: float
    ) -> None:
        self.session_factory = session_factory
        self.age = age
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run_forever())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run_forever(self) -> None:
        while True:
            try:
                async with self.session_factory() as session:
                    purged = await purge_older_than(session, self.age)
                if purged:
                    logger.info("retention: purged %d notifications", purged)
            except Exception as exc:  # e.g. two instances purging at once; next round retries
                logger.warning("retention run failed: %s", exc)
            await asyncio.sleep(self.interval)
