"""Push subscriptions and stream receipts: the queries of app/push (outbox: push_outbox.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import PushOutbox, PushReached, PushSubscription


class PushSubscriptionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_endpoint(self, endpoint: str) -> PushSubscription | None:
        query = select(PushSubscription).where(PushSubscription.endpoint == endpoint)
        return await self.session.scalar(query)

    async def of_user(self, user_id: int) -> Sequence[PushSubscription]:
        query = (
            select(PushSubscription)
            .where(PushSubscription.user_id == user_id)
            .order_by(PushSubscription.id)
        )
        return (await self.session.scalars(query)).all()

    async def add(self, subscription: PushSubscription) -> PushSubscription:
        self.session.add(subscription)
        await self.session.flush()
        return subscription

    async def delete_for(self, user_id: int, subscription_id: int) -> bool:
        result = await self.session.execute(
            delete(PushSubscription).where(
                PushSubscription.id == subscription_id, PushSubscription.user_id == user_id
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def delete(self, subscription_id: int) -> None:
        await self.session.execute(
            delete(PushSubscription).where(PushSubscription.id == subscription_id)
        )

    async def forget_pending(self, subscription_id: int) -> None:
        """Its pushes not sent yet were for its previous owner."""
        await self.session.execute(
            delete(PushOutbox).where(PushOutbox.subscription_id == subscription_id)
        )

    async def users_with_subscriptions(self) -> set[int]:
        query = select(PushSubscription.user_id).distinct()
        return set((await self.session.scalars(query)).all())

    async def count(self) -> int:
        return int(await self.session.scalar(select(func.count(PushSubscription.id))) or 0)


async def record_reached(session: AsyncSession, pairs: Sequence[tuple[int, int]]) -> None:
    """(notification id, user id): a stream of that user received it. Repeats are ignored."""
    if not pairs:
        return
    now = utcnow()
    rows = [{"notification_id": n, "user_id": u, "recorded_at": now} for n, u in set(pairs)]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(insert(PushReached).values(rows).on_conflict_do_nothing())
    await session.commit()


async def purge_reached(session: AsyncSession, before: datetime) -> None:
    await session.execute(delete(PushReached).where(PushReached.recorded_at < before))
    await session.commit()
