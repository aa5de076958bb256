"""Replay: what a reconnecting client missed, read from the database in id order, by pages.

Each page is read on a connection of its own (app/db/reads.py: PostgreSQL in autocommit,
SQLite on a read thread), back in the pool before the page is handed on. The stream writes
a page and asks for the next only once its client has taken enough of the last
(app/streams/session.py), so a client that stops reading holds no database connection,
however long it waits. A page is at most PAGE rows and a PAGE_SHARE of
SSE_MAX_PENDING_BYTES in frames (at least one notification, however big): rows read past
that bound are read again for the next page, whose row limit shrinks to what fitted and
grows back once pages fit again. So any history still kept replays whole, in bounded steps.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from functools import partial
from typing import Any

from sqlalchemy import Row

from app.core.connection import Subscription
from app.core.sse import event_frame, json_frame
from app.db.reads import Reads
from app.db.repositories.notifications import replay_query
from app.db.repositories.retention import PURGED_THROUGH_VALUE, purged_of
from app.services.notification_reads import notification_json

PAGE = 500  # rows
# A page written, the next one read and waiting, and what the socket still holds stay
# within SSE_MAX_PENDING_BYTES.
PAGE_SHARE = 4

Page = tuple[bytes, int, tuple[int, ...]]  # frames, the last id, their ids


def page_bytes(max_pending_bytes: int) -> int:
    return max(1, max_pending_bytes // PAGE_SHARE)


def page_of(budget: int, rows: Sequence[Row[Any]]) -> tuple[Page, int]:
    """The frames of the first `rows` that fit in `budget` bytes (at least one row), and how
    many rows were read."""
    frames: list[bytes] = []
    ids: list[int] = []
    size = 0
    for row in rows:
        frame = event_frame("notification", notification_json(row), row.id)
        if frames and size + len(frame) > budget:
            break
        frames.append(frame)
        ids.append(row.id)
        size += len(frame)
    return (b"".join(frames), ids[-1] if ids else 0, tuple(ids)), len(rows)


async def replay(
    reads: Reads, max_pending_bytes: int, sub: Subscription, after_id: int
) -> AsyncGenerator[Page, None]:
    """Pages of frames: every notification routed to `sub` with an id above `after_id`,
    oldest first; or, when some of those were purged by retention, one `reset` event so
    the client reloads its list instead."""
    purged = await reads.run(PURGED_THROUGH_VALUE, {}, purged_of)
    if purged > after_id:
        yield json_frame("reset", {"last_event_id": after_id, "purged_through": purged}), 0, ()
        return
    statement, values = replay_query(
        sub.kind, sub.user_id, sub.salon_id, sub.salon_filter, sub.types, sub.min_priority
    )
    cut = partial(page_of, page_bytes(max_pending_bytes))
    cursor, limit = after_id, PAGE
    while True:
        page, read = await reads.run(
            statement, {**values, "after_id": cursor, "row_limit": limit}, cut
        )
        if not read:
            return
        yield page
        _, cursor, ids = page
        if len(ids) < read:
            limit = len(ids)  # cut by its bytes: rows this big fit so many to a page
        elif read < limit:
            return  # the last rows there are
        else:
            limit = min(PAGE, 2 * limit)
