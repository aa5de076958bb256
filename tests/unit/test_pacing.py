"""The pacer gives the event loop a turn every few milliseconds of work, not more often."""

from __future__ import annotations

import asyncio
import time

from app.core.pacing import Pacer


async def test_long_work_gives_the_loop_a_turn_every_slice():
    turns: list[float] = []

    async def other() -> None:  # stands for the stream writes and requests waiting
        while True:
            turns.append(time.perf_counter())
            await asyncio.sleep(0)

    watcher = asyncio.get_running_loop().create_task(other())
    await asyncio.sleep(0)
    pacer = Pacer(0.005)
    started = time.perf_counter()
    pauses = 0
    while time.perf_counter() - started < 0.2:  # 200 ms of "work", in 0.1 ms units
        unit = time.perf_counter()
        while time.perf_counter() - unit < 0.0001:
            pass
        await pacer.pause()
        pauses += 1
    watcher.cancel()
    during = [t for t in turns if t >= started]
    gaps = [b - a for a, b in zip([started, *during], during, strict=False)]
    assert 20 <= len(during) <= 60  # about every 5 ms, not after each of ~2,000 units
    assert max(gaps) < 0.1  # generous: the machine may take the CPU away for a while
    assert pauses > 10 * len(during)  # many units of work between two turns, not one
