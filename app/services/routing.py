"""The contract's routing rules, checked before anything is stored.

A batch of hundreds is checked with two queries (its salons, its recipients), not one
per notification; a failing item is named by its index. Answers already known to the
process's `RoutingCache` need no query at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.reads import Reads
from app.db.repositories.accounts import (
    ROUTING_FACTS,
    Account,
    routing_facts_of,
    routing_values,
)
from app.schemas.notification import NotificationCreate
from app.services.errors import InvalidRequest

MAX_CACHED = 200_000  # accounts remembered; past it the cache starts over


class RoutingCache:
    """Salons known to exist and users' (role, salon_id), as found in the database.

    Only positive answers are kept. Nothing in the service deletes a salon or a user, or
    changes a user's role or salon, but an operator may, in the database: a trigger then
    records a revocation, and `forget_user` (called for every revocation of all of a
    user's credentials, on every instance) drops what was known of them. A negative answer
    is never kept: a customer who registered a second ago must be accepted, so an unknown
    id is always looked up again. Per process; every instance
    fills its own from the shared database.

    Lookups of unknown ids are grouped like the writer's commits: while one query is in
    flight, the ids other requests miss wait for the next, which asks for all of them.
    """

    def __init__(self, max_size: int = MAX_CACHED) -> None:
        self.max_size = max_size
        self.salons: set[int] = set()
        self.users: dict[int, Account] = {}
        self._lock = asyncio.Lock()
        self._next: _Round | None = None  # the ids the next query asks for

    async def fetch(
        self, lookup: Lookup, salon_ids: set[int], user_ids: set[int]
    ) -> tuple[set[int], dict[int, Account]]:
        """Which of these salons exist, and these users' accounts (remembered too)."""
        round_ = self._next
        if round_ is None:
            round_ = self._next = _Round(asyncio.get_running_loop().create_future())
        round_.salons |= salon_ids
        round_.users |= user_ids
        async with self._lock:
            if not round_.found.done():  # the first of this round to get here asks for all
                if self._next is round_:
                    self._next = None  # who comes from now on waits for the next round
                try:
                    found = await lookup(round_.salons, round_.users)
                except BaseException as exc:
                    round_.found.set_exception(exc)
                    round_.found.exception()  # retrieved: nobody else may be waiting
                    raise
                self._remember(*found)
                round_.found.set_result(found)
        return await round_.found

    def forget_user(self, user_id: int, sid: str | None, _revoked_at: float) -> None:
        """A revocations listener: after a revocation of all of a user's credentials, their
        account is looked up again (it may be gone, or of another role or salon)."""
        if sid is None:
            self.users.pop(user_id, None)

    def _remember(self, salons: set[int], users: dict[int, Account]) -> None:
        if len(self.salons) + len(salons) > self.max_size:
            self.salons.clear()
        if len(self.users) + len(users) > self.max_size:
            self.users.clear()
        self.salons |= salons
        self.users.update(users)


@dataclass
class _Round:
    found: asyncio.Future[tuple[set[int], dict[int, Account]]]
    salons: set[int] = field(default_factory=set)
    users: set[int] = field(default_factory=set)


SessionOpener = Callable[[], AbstractAsyncContextManager[AsyncSession]]
# Which of some salons exist, and some users' accounts: from the database, one way or another.
Lookup = Callable[[set[int], set[int]], Awaitable[tuple[set[int], dict[int, Account]]]]


def through(reads: Reads) -> Lookup:
    """The look-up on its own: no session (SQLite: one thread hop; PostgreSQL: autocommit)."""

    async def lookup(
        salon_ids: set[int], user_ids: set[int]
    ) -> tuple[set[int], dict[int, Account]]:
        return await reads.run(ROUTING_FACTS, routing_values(salon_ids, user_ids), routing_facts_of)

    return lookup


def in_session(open_session: SessionOpener) -> Lookup:
    """The look-up in a session `open_session()` gives (a caller's transaction: see within)."""

    async def lookup(
        salon_ids: set[int], user_ids: set[int]
    ) -> tuple[set[int], dict[int, Account]]:
        async with open_session() as session:
            connection = await session.connection()
            result = await connection.execute(ROUTING_FACTS, routing_values(salon_ids, user_ids))
            return routing_facts_of(result.all())

    return lookup


def within(session: AsyncSession) -> SessionOpener:
    """An opener that gives an open session (a caller's transaction) instead of a new one."""
    return lambda: nullcontext(session)


async def check_routing(
    lookup: Lookup,
    items: Sequence[NotificationCreate],
    *,
    batch: bool = False,
    cache: RoutingCache,
) -> None:
    """Raise InvalidRequest for the first item that breaks the routing rules; the database
    is asked (`lookup`) only for what is not in `cache`."""
    salon_ids = {item.salon_id for item in items if item.salon_id is not None}
    user_ids = {item.recipient_id for item in items if item.recipient_id is not None}
    salons = salon_ids & cache.salons
    users = {i: cache.users[i] for i in user_ids if i in cache.users}
    if len(salons) < len(salon_ids) or len(users) < len(user_ids):
        found_salons, found_users = await cache.fetch(
            lookup, salon_ids - salons, user_ids - users.keys()
        )
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
            return no_such_recipient(kind, recipient_id)
    else:
        if recipient_id is None:
            return "a customer notification needs recipient_id"
        if users.get(recipient_id, ("", None))[0] != "customer":
            return no_such_recipient(kind, recipient_id)
    return None


def no_such_recipient(kind: str, recipient_id: int) -> str:
    """One answer whoever the id is (another salon's admin, a superadmin, a customer where an
    admin was meant, nobody): the reason would tell an admin who has which id."""
    return f"no such recipient: {kind} {recipient_id}"
