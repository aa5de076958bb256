"""The contract's routing rules, checked before anything is stored.

A batch of hundreds is checked with two queries (its salons, its recipients), not one
per notification; a failing item is named by its index. Answers already known to the
process's `RoutingCache` need no query at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Salon, User
from app.schemas.notification import NotificationCreate
from app.services.errors import InvalidRequest

Account = tuple[str, int | None]  # a user's (role, salon_id)
MAX_CACHED = 200_000  # accounts remembered; past it the cache starts over


class RoutingCache:
    """Salons known to exist and users' (role, salon_id), as found in the database.

    Only positive answers are kept, and they never go stale: nothing in the service deletes
    a salon or a user, or changes a user's role or salon (accounts are created, never
    edited). A negative answer is never kept: a customer who registered a second ago must
    be accepted, so an unknown id is always looked up again. Per process; every instance
    fills its own from the shared database.
    """

    def __init__(self, max_size: int = MAX_CACHED) -> None:
        self.max_size = max_size
        self.salons: set[int] = set()
        self.users: dict[int, Account] = {}

    def remember(self, salons: set[int], users: dict[int, Account]) -> None:
        if len(self.salons) + len(salons) > self.max_size:
            self.salons.clear()
        if len(self.users) + len(users) > self.max_size:
            self.users.clear()
        self.salons |= salons
        self.users.update(users)


SessionOpener = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def check_routing(
    open_session: SessionOpener,
    items: Sequence[NotificationCreate],
    *,
    batch: bool = False,
    cache: RoutingCache | None = None,
) -> None:
    """Raise InvalidRequest for the first item that breaks the routing rules; a session is
    opened (`open_session()`) only when something is not in `cache`."""
    salon_ids = {item.salon_id for item in items if item.salon_id is not None}
    user_ids = {item.recipient_id for item in items if item.recipient_id is not None}
    salons: set[int] = set()
    users: dict[int, Account] = {}
    if cache is not None:
        salons = salon_ids & cache.salons
        users = {i: cache.users[i] for i in user_ids if i in cache.users}
        salon_ids -= salons
        user_ids -= users.keys()
    if salon_ids or user_ids:
        found_salons: set[int] = set()
        found_users: dict[int, Account] = {}
        async with open_session() as session:
            if salon_ids:
                query = select(Salon.id).where(Salon.id.in_(salon_ids))
                found_salons = set((await session.scalars(query)).all())
            if user_ids:
                rows = await session.execute(
                    select(User.id, User.role, User.salon_id).where(User.id.in_(user_ids))
                )
                found_users = {user_id: (role, salon_id) for user_id, role, salon_id in rows}
        if cache is not None:
            cache.remember(found_salons, found_users)
        salons |= found_salons
        users.update(found_users)
    for index, item in enumerate(items):
        problem = _problem(item, salons, users)
        if problem is not None:
            raise InvalidRequest(f"notifications[{index}]: {problem}" if batch else problem)


def _problem(item: NotificationCreate, salons: set[int], users: dict[int, Account]) -> str | None:
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
