"""Replay on its own (a real SQLite file): what a reconnecting stream is sent, in pages of
rows routed to it bounded in rows and in bytes, and the `reset` it gets instead when
retention purged some of them."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from app.core.connection import Subscription
from app.db.reads import Reads
from app.db.repositories.retention import purge_older_than
from app.schemas.notification import NotificationCreate
from app.services.replay import PAGE, page_bytes, replay
from tests.utils.rows import add_account, notification

MAX_PENDING = 4 * 1024 * 1024  # SSE_MAX_PENDING_BYTES' default


@pytest.fixture
async def reads(sessions) -> AsyncIterator[Reads]:
    runner = Reads(sessions.kw["bind"])
    yield runner
    await runner.stop()


def to_customer(customer: int, notification_type: str = "t") -> NotificationCreate:
    return notification("customer", recipient_id=customer, notification_type=notification_type)


async def replayed(
    reads: Reads, sub: Subscription, after_id: int, max_pending: int = MAX_PENDING
) -> list[tuple[bytes, int, tuple[int, ...]]]:
    return [page async for page in replay(reads, max_pending, sub, after_id)]


def ids_in(frames: bytes) -> list[int]:
    return [int(n) for n in re.findall(rb"^id: (\d+)$", frames, re.MULTILINE)]


async def test_only_the_streams_rows_past_its_id_in_pages(sessions, reads, quiet_writer):
    me = await add_account(sessions, "customer", None)
    other = await add_account(sessions, "customer", None)
    mine = await quiet_writer.create([to_customer(me)] * (PAGE * 2 + 34))
    await quiet_writer.create([to_customer(other), to_customer(me, "other_type")])
    sub = Subscription("customer", me, types=frozenset({"t"}))
    chunks = await replayed(reads, sub, mine[9].id)
    assert [len(ids) for _, _, ids in chunks] == [PAGE, PAGE, 24]
    assert [last for _, last, _ in chunks] == [
        mine[9 + PAGE].id,
        mine[9 + 2 * PAGE].id,
        mine[-1].id,
    ]
    assert [i for frames, _, _ in chunks for i in ids_in(frames)] == [n.id for n in mine[10:]]
    assert await replayed(reads, sub, mine[-1].id) == []


async def test_a_resume_from_before_a_purge_is_told_to_reload(sessions, reads, quiet_writer):
    me = await add_account(sessions, "customer", None)
    old = await quiet_writer.create([to_customer(me)] * 3)
    async with sessions() as session:
        assert await purge_older_than(session, timedelta(0)) == 3
    new = await quiet_writer.create([to_customer(me)] * 2)
    sub = Subscription("customer", me)
    [(frame, last, ids)] = await replayed(reads, sub, old[0].id)
    assert (last, ids) == (0, ())
    event, data = frame.decode().splitlines()[:2]
    assert event == "event: reset"
    assert json.loads(data.removeprefix("data: ")) == {
        "last_event_id": old[0].id,
        "purged_through": old[-1].id,
    }
    # From the watermark on, nothing is missing: an ordinary replay.
    [(frames, last, ids)] = await replayed(reads, sub, old[-1].id)
    assert (ids_in(frames), last, list(ids)) == (
        [n.id for n in new],
        new[-1].id,
        [n.id for n in new],
    )


async def test_pages_are_bounded_in_bytes_and_the_history_still_comes_whole(
    sessions, reads, quiet_writer
):
    """Big notifications and a small backlog bound: pages of the few that fit (one at least,
    however big), every id once and in order, none lost where a page was cut."""
    me = await add_account(sessions, "customer", None)
    sizes = [100, 3000, 200, 4900, 50, 50, 50, 4000] * 8
    sent = await quiet_writer.create(
        [
            notification("customer", recipient_id=me, message="m" * size, notification_type="t")
            for size in sizes
        ]
    )
    max_pending = 16 * 1024  # pages of 4 KiB: a 4,900-character message fills one alone
    pages = await replayed(reads, Subscription("customer", me), 0, max_pending)
    assert [i for frames, _, _ in pages for i in ids_in(frames)] == [n.id for n in sent]
    assert [i for _, _, ids in pages for i in ids] == [n.id for n in sent]
    for frames, last, ids in pages:
        assert len(frames) <= page_bytes(max_pending) or len(ids) == 1
        assert last == ids[-1]
