"""The push outbox: notifications become due pushes (one cursor shared by every instance),
due pushes are claimed (a lease; PostgreSQL skips rows another instance holds), then
deleted or rescheduled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    Notification,
    PushOutbox,
    PushReached,
    PushSubscription,
    Salon,
    User,
    Watermark,
)

ENQUEUED_THROUGH = "push_enqueued_through"  # the watermark: notifications already looked at
SKIP_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class PushedNotification:
    """What a push tells of its notification (app/push/payload.py makes the JSON)."""

    id: int
    notification_type: str
    title: str
    message: str
    salon_id: int | None
    priority: str
    salon_name: str | None


@dataclass(frozen=True, slots=True)
class DuePush:
    outbox_id: int
    attempts: int
    subscription_id: int
    endpoint: str
    p256dh: str
    auth: str
    notification: PushedNotification


def _routed_to_subscriber() -> object:
    """The seed's routing (as the hub's `recipients`), from a notification to accounts."""
    n, u = Notification, User
    return or_(
        and_(n.recipient_type == "customer", u.id == n.recipient_id, u.role == "customer"),
        and_(
            n.recipient_type == "user",
            u.id == n.recipient_id,
            u.role == "admin",
            u.salon_id == n.salon_id,
        ),
        and_(n.recipient_type == "salon", u.role == "admin", u.salon_id == n.salon_id),
    )


async def enqueue_new(
    session: AsyncSession, delay: timedelta, oldest: datetime, page: int
) -> int | None:
    """One page of notifications past the cursor becomes outbox rows (one per subscription
    of each recipient that had it when the notification was made); the cursor moves in the
    same transaction. None: another instance holds the cursor. Else how many were passed."""
    cursor = (
        select(Watermark.value)
        .where(Watermark.name == ENQUEUED_THROUGH)
        .with_for_update(skip_locked=True)
    )
    last = await session.scalar(cursor)
    if last is None:
        await session.rollback()
        return None
    start = max(last, await _nothing_to_push_before(session, oldest))
    page_ids = (
        select(Notification.id).where(Notification.id > start).order_by(Notification.id).limit(page)
    ).subquery()
    through, passed = (
        await session.execute(select(func.max(page_ids.c.id), func.count(page_ids.c.id)))
    ).one()
    if through is None:
        await session.rollback()
        return 0
    n, u, s = Notification, User, PushSubscription
    candidates = (
        select(n.id, s.id, s.user_id, n.priority, n.created_at)
        .select_from(s)
        .join(u, u.id == s.user_id)
        .join(n, _routed_to_subscriber())  # type: ignore[arg-type]
        .where(n.id > start, n.id <= through, s.created_at <= n.created_at, n.created_at >= oldest)
    )
    rows = [
        {
            "notification_id": notification_id,
            "subscription_id": subscription_id,
            "user_id": user_id,
            "urgent": priority == "urgent",
            "attempts": 0,
            # Urgent: at once, streams or not. Else after the streams had their chance.
            "due_at": created_at if priority == "urgent" else created_at + delay,
        }
        for notification_id, subscription_id, user_id, priority, created_at in (
            await session.execute(candidates)
        ).all()
    ]
    if rows:
        await session.execute(insert(PushOutbox), rows)
    moved = await session.execute(
        update(Watermark)
        .where(Watermark.name == ENQUEUED_THROUGH, Watermark.value == last)
        .values(value=through)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()  # SQLite with several workers: someone else moved it
        return None
    await session.commit()
    return int(passed)


async def _nothing_to_push_before(session: AsyncSession, oldest: datetime) -> int:
    """The newest id the watermark may jump to: notifications older than `oldest` (the push
    TTL) or than every subscription are never pushed. After a long time without any
    subscription the watermark is far behind; this spares reading all that came since. A
    minute of margin: creation times follow ids closely, not exactly."""
    first_subscription = await session.scalar(select(func.min(PushSubscription.created_at)))
    if first_subscription is None:
        return 0
    before = max(oldest, first_subscription) - SKIP_MARGIN
    newest_older = (  # one seek in ix_notifications_created_at
        select(Notification.id)
        .where(Notification.created_at < before)
        .order_by(Notification.created_at.desc())
        .limit(1)
    )
    return int(await session.scalar(newest_older) or 0)


async def claim_due(
    session: AsyncSession, now: datetime, lease_until: datetime, limit: int
) -> list[DuePush]:
    """Take up to `limit` due rows until `lease_until` (a crashed claimer's rows come due
    again then); drop those a stream of their user received first (unless urgent)."""
    o = PushOutbox
    due = (
        select(o.id)
        .where(o.due_at <= now)
        .order_by(o.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = (
        await session.execute(
            update(o)
            .where(o.id.in_(due.scalar_subquery()), o.due_at <= now)
            .values(due_at=lease_until)
            .returning(o.id, o.notification_id, o.user_id, o.urgent, o.attempts)
            .execution_options(synchronize_session=False)
        )
    ).all()
    if not claimed:
        await session.commit()
        return []
    first_tries = [(row.notification_id, row.user_id) for row in claimed if not row.urgent]
    reached: set[tuple[int, int]] = set()
    if first_tries:
        query = select(PushReached.notification_id, PushReached.user_id).where(
            tuple_(PushReached.notification_id, PushReached.user_id).in_(first_tries)
        )
        reached = {(a, b) for a, b in (await session.execute(query)).all()}
    skipped = [
        row.id
        for row in claimed
        if not row.urgent and row.attempts == 0 and (row.notification_id, row.user_id) in reached
    ]
    if skipped:
        await session.execute(delete(o).where(o.id.in_(skipped)))
    send = [row.id for row in claimed if row.id not in set(skipped)]
    pushes = await _details(session, send) if send else []
    await session.commit()
    return pushes


async def _details(session: AsyncSession, outbox_ids: Sequence[int]) -> list[DuePush]:
    o, n, s = PushOutbox, Notification, PushSubscription
    query = (
        select(
            o.id,
            o.attempts,
            s.id,
            s.endpoint,
            s.p256dh,
            s.auth,
            n.id,
            n.notification_type,
            n.title,
            n.message,
            n.salon_id,
            n.priority,
            Salon.name,
        )
        .join(n, n.id == o.notification_id)
        .join(s, s.id == o.subscription_id)
        .outerjoin(Salon, Salon.id == n.salon_id)
        .where(o.id.in_(outbox_ids))
        .order_by(o.id)
    )
    rows: list[tuple[Any, ...]] = [tuple(row) for row in (await session.execute(query)).all()]
    return [
        DuePush(row[0], row[1], row[2], row[3], row[4], row[5], PushedNotification(*row[6:]))
        for row in rows
    ]


async def delete_pushes(session: AsyncSession, outbox_ids: Sequence[int]) -> None:
    if outbox_ids:
        await session.execute(delete(PushOutbox).where(PushOutbox.id.in_(outbox_ids)))
        await session.commit()


async def reschedule(session: AsyncSession, outbox_id: int, attempts: int, due: datetime) -> None:
    await session.execute(
        update(PushOutbox)
        .where(PushOutbox.id == outbox_id)
        .values(attempts=attempts, due_at=due)
        .execution_options(synchronize_session=False)
    )
    await session.commit()


async def hold_salon(
    session: AsyncSession, salon_id: int, claimed: Sequence[int], now: datetime, until: datetime
) -> None:
    """A salon past its push limit: the rows claimed for it and every other row of its
    notifications already due wait until `until` (their attempt counts unchanged), so that
    the next turns claim other salons' pushes instead of these again."""
    o = PushOutbox
    of_salon = select(Notification.id).where(Notification.salon_id == salon_id)
    await session.execute(
        update(o)
        .where(or_(o.id.in_(claimed), and_(o.due_at <= now, o.notification_id.in_(of_salon))))
        .values(due_at=until)
        .execution_options(synchronize_session=False)
    )
    await session.commit()


async def release(session: AsyncSession, outbox_ids: Sequence[int], due: datetime) -> None:
    """Interrupted attempts: due again at `due` (their attempt counts unchanged)."""
    await session.execute(
        update(PushOutbox)
        .where(PushOutbox.id.in_(outbox_ids))
        .values(due_at=due)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
