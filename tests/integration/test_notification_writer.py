"""The creation path below the HTTP layer, on a real database of each backend: routing
checks (and what they may remember), the writer's stored rows, ids and order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.connection import decode_envelope
from app.db.models import Notification
from app.schemas.notification import NotificationCreate, NotificationPublic
from app.services.errors import InvalidRequest
from app.services.publishing import notification_frame
from app.services.routing import RoutingCache, check_routing, in_session
from app.services.writer import NOTIFICATION_WRITE_LOCK
from tests.utils.rows import add_account, add_salon


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
    await check_routing(in_session(opener), [to_customer(customer, salon)], cache=cache)
    await check_routing(in_session(opener), [to_customer(customer, salon)], cache=cache)
    await check_routing(in_session(opener), [to_customer(customer)], cache=cache)
    assert opener.opened == 1


async def test_a_refused_recipient_is_accepted_once_it_exists(sessions):
    """Negative answers are never remembered: a customer registered a second after a
    notification to its id was refused gets the next one."""
    salon = await add_salon(sessions)
    first = await add_account(sessions, "customer", None)
    opener, cache = CountingOpener(sessions), RoutingCache()
    await check_routing(in_session(opener), [to_customer(first, salon)], cache=cache)
    with pytest.raises(InvalidRequest, match=f"no such recipient: customer {first + 1}"):
        await check_routing(in_session(opener), [to_customer(first + 1, salon)], cache=cache)
    with pytest.raises(InvalidRequest, match=f"salon {salon + 1} does not exist"):
        await check_routing(in_session(opener), [to_customer(first, salon + 1)], cache=cache)
    second = await add_account(sessions, "customer", None)
    new_salon = await add_salon(sessions)
    assert (second, new_salon) == (first + 1, salon + 1)
    await check_routing(in_session(opener), [to_customer(second, new_salon)], cache=cache)
    assert opener.opened == 4


async def test_concurrent_lookups_share_queries(sessions):
    """Like commits, lookups of unknown accounts are grouped: fifty requests at once for
    fifty unknown customers need two queries, not fifty, and each gets its answer."""
    salon = await add_salon(sessions)
    customers = [await add_account(sessions, "customer", None) for _ in range(50)]
    missing = customers[-1] + 1000
    opener, cache = CountingOpener(sessions), RoutingCache()
    results = await asyncio.gather(
        *(
            check_routing(in_session(opener), [to_customer(c, salon)], cache=cache)
            for c in customers
        ),
        check_routing(in_session(opener), [to_customer(missing, salon)], cache=cache),
        return_exceptions=True,
    )
    assert results[:-1] == [None] * 50
    assert isinstance(results[-1], InvalidRequest)
    assert opener.opened == 2
    assert set(cache.users) == set(customers)


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
    await check_routing(in_session(sessions), [as_user], cache=cache)
    with pytest.raises(InvalidRequest, match=f"no such recipient: user {admin}"):
        await check_routing(
            in_session(sessions), [as_user.model_copy(update={"salon_id": other})], cache=cache
        )
    with pytest.raises(InvalidRequest, match=r"notifications\[1\]: no such recipient: customer"):
        await check_routing(
            in_session(sessions), [as_user, to_customer(admin, salon)], batch=True, cache=cache
        )


def salon_notification(salon_id: int, n: int, **extra: object) -> NotificationCreate:
    return NotificationCreate.model_validate(
        {
            "notification_type": "t",
            "title": f"n{n}",
            "message": "m",
            "recipient_type": "salon",
            "salon_id": salon_id,
            **extra,
        }
    )


async def read_back(sessions, ids: list[int]) -> dict[int, bytes]:
    async with sessions() as session:
        rows = (await session.scalars(select(Notification).where(Notification.id.in_(ids)))).all()
    return {
        row.id: NotificationPublic.model_validate(row).model_dump_json().encode() for row in rows
    }


async def test_stored_notifications_are_what_the_database_holds(sessions, writer, heard):
    """The JSON the writer hands out (POST response, stream frame) is the row as any later
    read of it (history, replay) gives it."""
    salon = await add_salon(sessions)
    items = [
        salon_notification(salon, 1),
        salon_notification(
            salon,
            2,
            entity_type="appointment",
            entity_id=9,
            extra_data={"nested": {"list": [1, 2.5, "é", None, True]}, "big": 2**63},
            priority="urgent",
        ),
    ]
    stored = await writer.create(items)
    assert [n.title for n in stored] == ["n1", "n2"]
    assert stored[1].id == stored[0].id + 1
    assert await read_back(sessions, [n.id for n in stored]) == {
        n.id: n.public_json() for n in stored
    }
    assert [decode_envelope(message)[1] for message in heard] == [
        notification_frame(n) for n in stored
    ]
    assert [decode_envelope(message)[0].id for message in heard] == [n.id for n in stored]


async def test_concurrent_creates_get_their_own_rows_in_order(sessions, writer):
    """Grouped into shared transactions, each caller still gets its own rows, ids in the
    order of its items, across groups larger than one INSERT statement."""
    salon = await add_salon(sessions)
    sizes = [1, 3, 1200, 1, 500, 2, 900, 1]
    requests = [[salon_notification(salon, n) for n in range(size)] for size in sizes]
    results = await asyncio.gather(*(writer.create(items) for items in requests))
    every_id = [n.id for stored in results for n in stored]
    assert len(set(every_id)) == sum(sizes)
    for items, stored in zip(requests, results, strict=True):
        assert [n.title for n in stored] == [item.title for item in items]
        assert [n.id for n in stored] == sorted(n.id for n in stored)
    titles = {n.id: n.title for stored in results for n in stored}
    async with sessions() as session:
        rows = (await session.execute(select(Notification.id, Notification.title))).all()
    assert dict(rows) == titles


async def test_publication_follows_commit_order_and_precedes_the_answer(sessions, writer, heard):
    """Groups are published one after the other in id order (a hub given a gap would read
    it from the database), and a caller gets its rows back once they are on the bus."""
    salon = await add_salon(sessions)

    async def create(size: int) -> None:
        stored = await writer.create([salon_notification(salon, n) for n in range(size)])
        on_the_bus = {decode_envelope(message)[0].id for message in heard}
        assert {n.id for n in stored} <= on_the_bus

    await asyncio.gather(*(create(size) for size in [45, 1, 130, 2, 61, 1, 1, 300, 7] * 3))
    ids = [decode_envelope(message)[0].id for message in heard]
    assert len(ids) == (45 + 1 + 130 + 2 + 61 + 1 + 1 + 300 + 7) * 3
    assert ids == sorted(ids)


async def test_a_write_waits_for_another_writers_commit(backend, sessions, writer):
    """Another writer in the middle of its transaction (another instance's, on PostgreSQL,
    holding the notifications' advisory lock) holds ours up until it ends: ids are then
    committed in one order, whoever writes."""
    salon = await add_salon(sessions)
    async with sessions() as other_writer:
        if backend == "postgres":
            lock = text("SELECT pg_advisory_xact_lock(:key)").bindparams(
                key=NOTIFICATION_WRITE_LOCK
            )
        else:  # SQLite's one write lock
            lock = text("UPDATE salons SET name = name WHERE id = :id").bindparams(id=salon)
        await other_writer.execute(lock)
        create = asyncio.ensure_future(writer.create([salon_notification(salon, 1)]))
        await asyncio.sleep(0.5)
        assert not create.done()
        await other_writer.rollback()
    async with asyncio.timeout(10):
        [stored] = await create
    assert await read_back(sessions, [stored.id]) == {stored.id: stored.public_json()}


async def stored_titles(sessions) -> list[str]:
    async with sessions() as session:
        return list(await session.scalars(select(Notification.title).order_by(Notification.id)))


async def test_a_group_the_database_refuses_commits_nothing_and_fails_every_request(
    sessions, writer, heard
):
    """One row refused (a salon that doesn't exist: the routing checks, above the writer,
    are skipped here) fails its whole group: no row of it is committed or published, not
    even those inserted before it in the same transaction (a group of 700 rows takes two
    INSERT statements on SQLite, the refused row is in the second), every request of the
    group gets the error, and the next group is written as usual."""
    salon = await add_salon(sessions)
    missing = salon + 1000

    def rows(prefix: str, count: int) -> list[NotificationCreate]:
        return [
            salon_notification(salon, n).model_copy(update={"title": prefix}) for n in range(count)
        ]

    refused = rows("refused", 250)
    refused[-1] = refused[-1].model_copy(update={"salon_id": missing})
    first, *grouped = await asyncio.gather(
        writer.create(rows("first", 3)),  # a group of its own: the lock was free
        writer.create(rows("grouped", 200)),  # these three: one group, one transaction
        writer.create(refused),
        writer.create(rows("grouped", 1)),
        return_exceptions=True,
    )
    assert [n.title for n in first] == ["first"] * 3  # type: ignore[union-attr]
    assert all(isinstance(error, Exception) for error in grouped), grouped
    assert grouped[0] is grouped[1] is grouped[2]  # the group's one error

    big = rows("big", 700)
    big[600] = big[600].model_copy(update={"salon_id": missing})
    with pytest.raises(Exception) as refused_big:
        await writer.create(big)
    assert refused_big.type is type(grouped[0])

    [after] = await writer.create(rows("after", 1))
    assert await stored_titles(sessions) == ["first"] * 3 + ["after"]
    assert [decode_envelope(message)[0].id for message in heard] == [
        n.id
        for n in [*first, after]  # type: ignore[union-attr]
    ]
