"""The contract's routing rules, checked before anything is stored.

A batch of hundreds is checked with two queries (its salons, its recipients), not one
per notification; a failing item is named by its index.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Salon, User
from app.schemas.notification import NotificationCreate
from app.services.errors import InvalidRequest


async def check_routing(
    session: AsyncSession, items: Sequence[NotificationCreate], *, batch: bool = False
) -> None:
    salon_ids = {item.salon_id for item in items if item.salon_id is not None}
    user_ids = {item.recipient_id for item in items if item.recipient_id is not None}
    salons = set(
        (await session.scalars(select(Salon.id).where(Salon.id.in_(salon_ids)))).all()
        if salon_ids
        else ()
    )
    users: dict[int, tuple[str, int | None]] = {}
    if user_ids:
        rows = await session.execute(
            select(User.id, User.role, User.salon_id).where(User.id.in_(user_ids))
        )
        users = {user_id: (role, salon_id) for user_id, role, salon_id in rows}
    for index, item in enumerate(items):
        problem = _problem(item, salons, users)
        if problem is not None:
            raise InvalidRequest(f"notifications[{index}]: {problem}" if batch else problem)


def _problem(
    item: NotificationCreate, salons: set[int], users: dict[int, tuple[str, int | None]]
) -> str | None:
    kind, salon_id, recipient_id = item.recipient_type, item.salon_id, item.recipient_id
    if salon_id is not None and salon_id not in salons:
        return f"salon {salon_id} does not exist"
    if kind == "salon":
        if salon_id is None:
            return "a salon notification needs salon_id"
        if recipient_id is not None:
            return "a salon notification goes to every admin: omit recipient_id"
    elif kind == "user":
        if salon_id is None or recipient_id is None:
            return "a user notification needs salon_id and recipient_id"
        if users.get(recipient_id) != ("admin", salon_id):
            return f"user {recipient_id} is not an admin of salon {salon_id}"
    else:
        if recipient_id is None:
            return "a customer notification needs recipient_id"
        if users.get(recipient_id, ("", None))[0] != "customer":
            return f"customer {recipient_id} does not exist"
    return None
