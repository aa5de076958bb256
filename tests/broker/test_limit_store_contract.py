"""One contract for every limit store (memory://, redis://): windows and leased slots."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.limits import LimitStore, create_limit_store
from app.limits.base import LimitStoreError, Rate
from app.limits.redis import RedisLimitStore
from tests.utils.redis_server import REDIS_URL, RedisServer


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[LimitStore]:
    """Each backend; Redis gets a prefix of its own, and must answer (never skipped)."""
    url = REDIS_URL if request.param == "redis" else "memory://"
    instance = create_limit_store(url, prefix=f"test-{uuid.uuid4().hex[:12]}")
    await instance.start()
    yield instance
    await instance.stop()


async def test_a_window_admits_its_limit_then_says_how_long_to_wait(store: LimitStore) -> None:
    assert [await store.hit("k", 3, 0.5) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await store.hit("k", 3, 0.5)
    assert 0 < wait <= 0.5
    assert await store.hit("other", 3, 0.5) == 0.0  # keys are counted apart
    await asyncio.sleep(wait + 0.05)
    assert await store.hit("k", 3, 0.5) == 0.0  # a new window


async def test_an_attempt_counts_in_every_window_or_in_none(store: LimitStore) -> None:
    pair, address = Rate("pair", 2, 0.5), Rate("address", 3, 0.5)
    assert await store.count([pair, address]) == (None, 0.0)
    assert await store.count([pair, address]) == (None, 0.0)
    refused, wait = await store.count([pair, address])
    assert refused == 0 and 0 < wait <= 0.5  # the pair is full...
    assert await store.count([Rate("other", 2, 0.5), address]) == (None, 0.0)
    refused, _ = await store.count([Rate("other", 2, 0.5), address])
    assert refused == 1  # ...and the refused attempt did not count in the address
    await asyncio.sleep(wait + 0.05)
    assert await store.count([pair]) == (None, 0.0)  # a new window


async def test_taking_back_frees_a_hit_and_never_goes_below_zero(store: LimitStore) -> None:
    rate = Rate("k", 2, 5)
    await store.take_back(["k"])  # nothing counted yet: nothing to take back
    assert await store.count([rate]) == (None, 0.0)
    await store.take_back(["k", "k"])
    assert [(await store.count([rate]))[0] for _ in range(3)] == [None, None, 0]
    await store.take_back(["k"])
    assert await store.count([rate]) == (None, 0.0)


async def test_concurrent_attempts_count_exactly_up_to_the_limit(store: LimitStore) -> None:
    """Many attempts at once (Redis gets them in one pipeline): exactly `limit` counted."""
    answers = await asyncio.gather(
        *(store.count([Rate("pair", 5, 5), Rate("account", 50, 5)]) for _ in range(40))
    )
    assert sum(1 for refused, _ in answers if refused is None) == 5
    # The account's window holds those five only: one more fits under 6, then none.
    assert (await store.count([Rate("account", 6, 5)]))[0] is None
    assert (await store.count([Rate("account", 6, 5)]))[0] == 0


async def test_two_redis_stores_count_attempts_as_one() -> None:
    """Two instances' attempts at once: exactly the limit is counted between them."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    stores = [RedisLimitStore(REDIS_URL, prefix), RedisLimitStore(REDIS_URL, prefix)]
    for store in stores:
        await store.start()
    try:
        answers = await asyncio.gather(
            *(stores[i % 2].count([Rate("account", 7, 5)]) for i in range(30))
        )
        assert sum(1 for refused, _ in answers if refused is None) == 7
    finally:
        for store in stores:
            await store.stop()


async def test_slots_are_taken_in_every_key_or_none(store: LimitStore) -> None:
    assert await store.acquire("a", [("user:1", 2), ("salon:1", 2)]) is None
    assert await store.acquire("b", [("user:2", 2), ("salon:1", 2)]) is None
    # salon:1 is full: the index of the full key, and user:1 is not taken either
    assert await store.acquire("c", [("user:1", 2), ("salon:1", 2)]) == 1
    assert await store.acquire("d", [("user:1", 2)]) is None
    assert await store.acquire("e", [("user:1", 2)]) == 0
    await store.release("b")
    assert await store.acquire("c", [("user:1", 3), ("salon:1", 2)]) is None


async def test_a_released_slot_is_free_again_and_releasing_twice_is_harmless(
    store: LimitStore,
) -> None:
    assert await store.acquire("a", [("k", 1)]) is None
    assert await store.acquire("b", [("k", 1)]) == 0
    await store.release("a")
    await store.release("a")
    assert await store.acquire("b", [("k", 1)]) is None


async def test_two_redis_stores_share_counts_and_a_dead_ones_slots_lapse() -> None:
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    first, second = RedisLimitStore(REDIS_URL, prefix, 0.3), RedisLimitStore(REDIS_URL, prefix, 0.3)
    await first.start()
    await second.start()
    try:
        assert await first.acquire("a", [("k", 1)]) is None
        await asyncio.sleep(0.8)  # past the lease: still held, since its owner renews it
        assert await second.acquire("b", [("k", 1)]) == 0
        assert await first.hit("rate", 2, 5) == await second.hit("rate", 2, 5) == 0.0
        assert await first.hit("rate", 2, 5) > 0
        assert first._renewer is not None
        first._renewer.cancel()  # the first instance dies: nobody renews its lease
        await asyncio.sleep(0.5)
        assert await second.acquire("b", [("k", 1)]) is None
    finally:
        await first.stop()
        await second.stop()


def test_every_limit_has_its_refusal_series() -> None:
    from app.core.metrics import LIMITS
    from app.services.limiter import LIMIT_NAMES

    assert set(LIMIT_NAMES) == set(LIMITS)


async def test_admit_counts_the_rate_and_takes_slots_only_within_it(store: LimitStore) -> None:
    rate = Rate("opens", 2, 0.5)
    assert await store.hit_and_acquire(rate, "a", [("user:1", 5), ("salon:1", 1)]) == (0.0, None)
    # The salon is full: the rate still counts the try, nothing is taken.
    assert await store.hit_and_acquire(rate, "b", [("user:1", 5), ("salon:1", 1)]) == (0.0, 1)
    wait, full = await store.hit_and_acquire(rate, "c", [("user:1", 5)])
    assert 0 < wait <= 0.5 and full is None  # past the rate: refused before the slots
    await store.release("a")
    assert await store.acquire("d", [("user:1", 1)]) is None  # "c" took nothing
    assert await store.hit_and_acquire(None, "e", [("salon:1", 1)]) == (0.0, None)  # no rate at all


async def test_concurrent_admissions_take_exactly_the_free_slots(store: LimitStore) -> None:
    """Many streams opening at once (Redis sends them in one pipeline): each is answered,
    and no more are admitted than there are slots, nor beyond the rate."""
    answers = await asyncio.gather(
        *(
            store.hit_and_acquire(Rate("opens", 150, 5), f"l{i}", [("salon:1", 100)])
            for i in range(200)
        )
    )
    admitted = [i for i, (wait, full) in enumerate(answers) if wait == 0 and full is None]
    assert len(admitted) == 100
    assert sum(1 for wait, _ in answers if wait > 0) == 50  # past the rate of 150
    await store.release(f"l{admitted[0]}")
    assert await store.hit_and_acquire(None, "late", [("salon:1", 100)]) == (0.0, None)


async def test_admission_survives_a_redis_that_forgot_its_scripts() -> None:
    """A restarted Redis has no scripts: they are loaded again, nobody is refused."""
    store = RedisLimitStore(REDIS_URL, f"test-{uuid.uuid4().hex[:12]}")
    await store.start()
    try:
        assert await store.acquire("a", [("k", 2)]) is None
        assert store._redis is not None
        await store._redis.script_flush()
        answers = await asyncio.gather(*(store.acquire(f"b{i}", [("k", 2)]) for i in range(3)))
        assert sorted(answers, key=str) == [0, 0, None]
    finally:
        await store.stop()


async def test_admissions_fail_fast_while_redis_is_frozen_or_gone_then_recover(
    tmp_path: Path,
) -> None:
    """The caller gets LimitStoreError within the timeout (the stream then opens unchecked),
    never a hang, whether Redis stops answering or goes away; afterwards admissions work
    again on a new connection, with the script loaded into the restarted Redis."""
    redis = RedisServer(tmp_path / "redis").start()
    store = RedisLimitStore(redis.url, f"test-{uuid.uuid4().hex[:12]}")
    await store.start()
    try:
        assert await store.acquire("a", [("k", 50)]) is None
        redis.freeze()
        async with asyncio.timeout(3):
            failures = await asyncio.gather(
                *(store.acquire(f"f{i}", [("k", 50)]) for i in range(10)), return_exceptions=True
            )
        assert all(isinstance(f, LimitStoreError) for f in failures)
        redis.thaw()  # (what it then runs takes leases that lapse, never renewed)
        assert await store.acquire("b", [("k", 50)]) is None
        redis.kill()
        async with asyncio.timeout(3):
            with pytest.raises(LimitStoreError):
                await store.acquire("c", [("k", 50)])
        redis.start()  # the same port, empty, without the script
        async with asyncio.timeout(5):
            while True:
                try:
                    assert await store.acquire("d", [("k", 50)]) is None
                    break
                except LimitStoreError:
                    await asyncio.sleep(0.1)
    finally:
        await store.stop()
        redis.stop()
