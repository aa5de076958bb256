"""The creation path below the HTTP layer, on a real database of each backend: routing
checks (and what they may remember), the writer's stored rows, ids and order."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db.migrate import upgrade_database
from app.db.models import Salon, User
from app.db.session import create_engine, create_session_factory
from app.schemas.notification import NotificationCreate
from app.services.errors import InvalidRequest
from app.services.routing import RoutingCache, check_routing
from tests.utils.db import fresh_database_url


@pytest.fixture
async def engine(backend: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url, cleanup = fresh_database_url(backend, tmp_path)
    # Alembic's env.py runs its own event loop: keep it off the test's.
    migrate = threading.Thread(target=upgrade_database, args=(url,))
    migrate.start()
    await asyncio.to_thread(migrate.join)
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        cleanup()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


async def add_account(
    sessions: async_sessionmaker[AsyncSession], role: str, salon_id: int | None
) -> int:
    async with sessions() as session:
        user = User(
            email=f"{role}-{id(object())}@example.com",
            password_hash="x",
            full_name=role,
            role=role,
            salon_id=salon_id,
        )
        session.add(user)
        await session.commit()
        return user.id


async def add_salon(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        salon = Salon(name="s")
        session.add(salon)
        await session.commit()
        return salon.id


def to_customer(customer_id: int, salon_id: int | None = None) -> NotificationCreate:
    return NotificationCreate(
        notification_type="t",
        title="hello",
        message="m",
        recipient_type="customer",
        recipient_id=customer_id,
        salon_id=salon_id,
    )


class CountingOpener:
    """A session opener that counts the sessions opened (the queries' round trips)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.opened = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        self.opened += 1
        async with self.sessions() as session:
            yield session


async def test_known_salons_and_accounts_are_not_looked_up_again(sessions):
    salon = await add_salon(sessions)
    customer = await add_account(sessions, "customer", None)
    opener, cache = CountingOpener(sessions), RoutingCache()
    await check_routing(opener, [to_customer(customer, salon)], cache=cache)
    await check_routing(opener, [to_customer(customer, salon)], cache=cache)
    await check_routing(opener, [to_customer(customer)], cache=cache)
    assert opener.opened == 1


async def test_a_refused_recipient_is_accepted_once_it_exists(sessions):
    """Negative answers are never remembered: a customer registered a second after a
    notification to its id was refused gets the next one."""
    salon = await add_salon(sessions)
    first = await add_account(sessions, "customer", None)
    opener, cache = CountingOpener(sessions), RoutingCache()
    await check_routing(opener, [to_customer(first, salon)], cache=cache)
    with pytest.raises(InvalidRequest, match=f"customer {first + 1} does not exist"):
        await check_routing(opener, [to_customer(first + 1, salon)], cache=cache)
    with pytest.raises(InvalidRequest, match=f"salon {salon + 1} does not exist"):
        await check_routing(opener, [to_customer(first, salon + 1)], cache=cache)
    second = await add_account(sessions, "customer", None)
    new_salon = await add_salon(sessions)
    assert (second, new_salon) == (first + 1, salon + 1)
    await check_routing(opener, [to_customer(second, new_salon)], cache=cache)
    assert opener.opened == 4


async def test_a_cached_account_still_has_to_fit_the_route(sessions):
    """The cache holds facts (role, salon), not verdicts: an admin known from one
    notification is still no customer, nor an admin of another salon."""
    salon, other = await add_salon(sessions), await add_salon(sessions)
    admin = await add_account(sessions, "admin", salon)
    cache = RoutingCache()
    as_user = NotificationCreate(
        notification_type="t",
        title="x",
        message="m",
        recipient_type="user",
        recipient_id=admin,
        salon_id=salon,
    )
    await check_routing(sessions, [as_user], cache=cache)
    with pytest.raises(InvalidRequest, match=f"user {admin} is not an admin of salon {other}"):
        await check_routing(sessions, [as_user.model_copy(update={"salon_id": other})], cache=cache)
    with pytest.raises(InvalidRequest, match=r"notifications\[1\]: customer"):
        await check_routing(sessions, [as_user, to_customer(admin, salon)], batch=True, cache=cache)
