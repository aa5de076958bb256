from __future__ import annotations

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Revocation


async def add_revocation(session: AsyncSession, revocation: Revocation) -> Revocation:
    session.add(revocation)
    await session.flush()
    return revocation


# Rows past `after` whose credentials may still be unexpired at `now`, by id: their columns,
# not ORM objects. Every instance reads these every second, up to LOOK_BACK rows again each
# time: 150 rows took 3.0 ms of CPU as objects, 1.1 ms as rows (through a session).
REVOCATIONS_AFTER = (
    select(
        Revocation.id,
        Revocation.user_id,
        Revocation.sid,
        Revocation.revoked_at,
        Revocation.expires_at,
    )
    .where(Revocation.id > bindparam("after"))
    .where(or_(Revocation.expires_at.is_(None), Revocation.expires_at > bindparam("now")))
    .order_by(Revocation.id)
)
