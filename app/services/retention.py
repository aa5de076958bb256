"""Retention: notifications older than the configured age are purged by a periodic job.

What is purged is recorded as a watermark (the highest id deleted), so a client that
resumes from before it is told to reload (`event: reset`) instead of getting a silent gap.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.tasks import cancel_and_wait
from app.db.repositories.retention import purge_older_than

logger = logging.getLogger(__name__)


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
