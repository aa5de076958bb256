"""Stopping background tasks, even one whose first cancellation was swallowed on its way."""

from __future__ import annotations

import asyncio

import pytest

from app.core.tasks import cancel_and_wait


async def test_a_task_that_swallowed_its_cancellation_is_stopped_all_the_same():
    """As `_renew_forever` did when redis-py turned the cancelled read into a RedisError:
    the loop caught it and slept again; stopping the limit store then waited forever."""
    swallowed = 0

    async def renew_forever() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:  # what a library's `except` did for it
                swallowed += 1
                if swallowed == 1:
                    continue
                raise

    loop = asyncio.get_running_loop()
    task = loop.create_task(renew_forever())
    await asyncio.sleep(0)
    started = loop.time()
    async with asyncio.timeout(5):  # (its expiry would cancel the task a second time too)
        await cancel_and_wait(task)
    assert loop.time() - started < 1, "stopping waited for a task that carried on"
    assert task.cancelled() and swallowed == 2


async def test_a_task_that_failed_raises_its_error_and_none_is_nothing():
    async def fail() -> None:
        raise ValueError("broken")

    task = asyncio.get_running_loop().create_task(fail())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="broken"):
        await cancel_and_wait(task)
    await cancel_and_wait(None)
