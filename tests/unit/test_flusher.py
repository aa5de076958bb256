"""The flusher writes each woken stream once per round, at most FLUSH_BATCH per callback."""

from __future__ import annotations

import asyncio

from app.core.metrics import Metrics
from app.streams.flusher import FLUSH_BATCH, Flusher


class FakeStream:
    def __init__(self, flushes: list[tuple[int, int]], index: int, tick: list[int]) -> None:
        self.queued = False
        self.index, self.flushes, self.tick = index, flushes, tick

    def flush(self) -> None:
        self.flushes.append((self.tick[0], self.index))


async def test_woken_streams_are_written_once_each_a_batch_per_loop_callback():
    flusher = Flusher(Metrics())
    flushes: list[tuple[int, int]] = []
    tick = [0]  # advanced by a callback that runs between the flusher's callbacks

    async def ticker() -> None:
        while True:
            tick[0] += 1
            await asyncio.sleep(0)

    ticking = asyncio.get_running_loop().create_task(ticker())
    count = 2 * FLUSH_BATCH + 200
    streams = [FakeStream(flushes, i, tick) for i in range(count)]
    for stream in streams:
        stream.queued = True  # as StreamSession.wake does before adding
        flusher.add(stream)  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    ticking.cancel()
    assert sorted(index for _, index in flushes) == list(range(count))  # each once
    per_callback: dict[int, int] = {}
    for at, _ in flushes:
        per_callback[at] = per_callback.get(at, 0) + 1
    assert sorted(per_callback.values(), reverse=True) == [FLUSH_BATCH, FLUSH_BATCH, 200]
    assert all(not stream.queued for stream in streams)  # they may be woken again
