"""Replay: what a reconnecting client missed, read from the database in id order."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.connection import Subscription
from app.core.sse import json_frame
from app.db.repositories.notifications import matching, notifications_after, routed_to
from app.db.repositories.retention import purged_through
from app.services.publishing import notification_frame

PAGE = 500


async def replay(
    session_factory: async_sessionmaker[AsyncSession], sub: Subscription, after_id: int
) -> AsyncIterator[tuple[bytes, int, tuple[int, ...]]]:
    """Chunks of frames (bytes, last id, their ids): every notification routed to `sub`
    with an id above `after_id`, oldest first; or, when some of those were purged by
    retention, one `reset` event so the client reloads its list instead."""
    condition = routed_to(sub.kind, sub.user_id, sub.salon_id, sub.salon_filter)
    clauses = matching(sub.types, sub.min_priority)
    async with session_factory() as session:
        purged = await purged_through(session)
        if purged > after_id:
            reset = json_frame("reset", {"last_event_id": after_id, "purged_through": purged})
            yield reset, 0, ()
            return
        cursor = after_id
        while True:
            rows = await notifications_after(session, cursor, PAGE, condition, *clauses)
            if not rows:
                return
            cursor = rows[-1].id
            ids = tuple(row.id for row in rows)
            yield b"".join(notification_frame(row) for row in rows), cursor, ids
            if len(rows) < PAGE:
                return
