"""Retention's SQL: the purge, and its watermark (the highest notification id deleted)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Notification, Watermark

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
