from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Revocation


async def add_revocation(session: AsyncSession, revocation: Revocation) -> Revocation:
    session.add(revocation)
    await session.flush()
    return revocation


async def revocations_after(
    session: AsyncSession, after_id: int, now: float
) -> Sequence[Revocation]:
    """Rows past `after_id` whose credentials may still be unexpired at `now`, by id."""
    query = (
        select(Revocation)
        .where(Revocation.id > after_id)
        .where(or_(Revocation.expires_at.is_(None), Revocation.expires_at > now))
        .order_by(Revocation.id)
    )
    return (await session.scalars(query)).all()
