"""Stream deadlines kept by the second, one timer for all: each stream ends on time, once."""

from __future__ import annotations

import asyncio
import time

from app.streams.expiries import Expiries


class FakeStream:
    def __init__(self) -> None:
        self.expired_at: float | None = None

    def expire(self) -> None:
        assert self.expired_at is None, "expired twice"
        self.expired_at = time.time()


async def test_streams_expire_at_their_second_and_a_later_earlier_one_is_not_kept_waiting():
    expiries = Expiries()
    now = time.time()
    late, early, gone = FakeStream(), FakeStream(), FakeStream()
    expiries.add(late, now + 1.5)  # type: ignore[arg-type]
    expiries.add(early, now + 0.2)  # type: ignore[arg-type]  # added after, due first
    second = expiries.add(gone, now + 0.2)  # type: ignore[arg-type]
    expiries.discard(gone, second)  # type: ignore[arg-type]  # it ended before its deadline
    await asyncio.sleep(1.4)
    assert early.expired_at is not None and early.expired_at - now < 1.35
    assert late.expired_at is None
    await asyncio.sleep(1.5)
    assert late.expired_at is not None and late.expired_at >= now + 1.5
    assert gone.expired_at is None
