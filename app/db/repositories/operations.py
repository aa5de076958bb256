"""Queries of the operations overview: which salons are busiest."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Notification, Salon


async def busiest_salons(
    session: AsyncSession, since: datetime, limit: int, also: Collection[int] = ()
) -> list[tuple[int, str, int]]:
    """(salon id, name, notifications created since `since`) of the `limit` salons with the
    most, and of the salons `also` names: one statement, over the created_at index."""
    recent = (
        select(Notification.salon_id, func.count().label("created"))
        .where(Notification.created_at >= since, Notification.salon_id.is_not(None))
        .group_by(Notification.salon_id)
        .cte("recent")
    )
    top = select(recent.c.salon_id).order_by(recent.c.created.desc(), recent.c.salon_id)
    query = (
        select(Salon.id, Salon.name, func.coalesce(recent.c.created, 0))
        .outerjoin(recent, recent.c.salon_id == Salon.id)
        .where(or_(Salon.id.in_(top.limit(limit).scalar_subquery()), Salon.id.in_(list(also))))
    )
    return [(int(i), str(name), int(n)) for i, name, n in (await session.execute(query)).all()]
