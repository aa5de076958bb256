"""Retention's SQL: the purge, and its watermark (the highest notification id deleted)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Notification, Watermark

PURGED_THROUGH = "notifications_purged_through"


# The highest notification id retention has deleted (no row: none).
PURGED_THROUGH_VALUE = select(Watermark.value).where(Watermark.name == PURGED_THROUGH)


def purged_of(rows: Sequence[Row[Any]]) -> int:
    """PURGED_THROUGH_VALUE's answer as a number (0 if none)."""
    return int(rows[0][0]) if rows else 0


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
