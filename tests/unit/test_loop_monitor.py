"""The event-loop monitor: pauses are seen, and an idle process isn't woken 100 times a second."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from itertools import pairwise

from app.core.loop_monitor import CollectorSchedule, LoopMonitor
from app.core.metrics import Metrics


async def test_a_blocked_loop_is_measured_as_a_pause():
    metrics = Metrics()
    monitor = LoopMonitor(metrics)
    await monitor.start()
    try:
        busy_until = time.perf_counter() + 0.2  # busy, so the monitor ticks fast
        while time.perf_counter() < busy_until:
            await asyncio.sleep(0)
        time.sleep(0.06)  # noqa: ASYNC251 - the point: no callback runs for 60 ms
        await asyncio.sleep(0.05)
    finally:
        await monitor.stop()
    pause = metrics.loop_lag_max._value.get()
    # Seen, not invented; the upper bound leaves room for a loaded machine's scheduling.
    assert 0.04 <= pause < 2.0


async def test_an_idle_loop_is_watched_slowly_and_a_busy_one_every_10_ms():
    metrics = Metrics()
    monitor = LoopMonitor(metrics, interval=0.01, idle_interval=0.1)
    await monitor.start()
    try:
        await asyncio.sleep(1.0)
        idle_ticks = metrics.loop_lag.count
        busy_until = time.perf_counter() + 1.0
        while time.perf_counter() < busy_until:
            await asyncio.sleep(0)
        busy_ticks = metrics.loop_lag.count - idle_ticks
    finally:
        await monitor.stop()
    # About 10 a second idle and 100 busy; a loaded 2-core machine gave the busy second
    # as few as ~46, so the bound is three times the idle rate rather than near 100.
    assert idle_ticks <= 25
    assert busy_ticks >= 30


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector reclaims it


async def test_full_collections_freeze_survivors_so_the_next_ones_skip_them():
    schedule = CollectorSchedule(interval=0.05)
    await schedule.start()
    try:
        frozen = gc.get_freeze_count()
        survivors = [[i] for i in range(50_000)]  # long-lived, like open streams
        await asyncio.sleep(0.2)
        assert gc.get_freeze_count() >= frozen + len(survivors)
        garbage = Node()
        reclaimed = weakref.ref(garbage)
        del garbage
        await asyncio.sleep(0.2)  # a cycle made since the last freeze is still reclaimed
        assert reclaimed() is None
    finally:
        await schedule.stop()
    assert gc.get_freeze_count() == 0  # stop() leaves the interpreter as it found it


async def test_growth_is_collected_and_frozen_in_steps_without_waiting_for_the_timer():
    heap = [[i] for i in range(400_000)]  # a server's modules and caches, say
    schedule = CollectorSchedule(interval=60)
    await schedule.start()
    frozen_at_each_step: list[int] = []

    def note(phase: str, info: dict[str, object]) -> None:
        if phase == "stop" and info["generation"] == 2:
            frozen_at_each_step.append(gc.get_freeze_count())

    gc.callbacks.append(note)
    try:
        frozen = gc.get_freeze_count()
        streams = [[i] for i in range(100_000)]  # 10,000 streams opening, say
        assert gc.get_freeze_count() >= frozen + len(streams) // 2
        steps = [b - a for a, b in pairwise([frozen, *frozen_at_each_step])]
        assert len(steps) >= 5 and max(steps) < 15_000  # many small walks, not one big one
    finally:
        gc.callbacks.remove(note)
        await schedule.stop()
    del heap


async def test_the_whole_heap_is_thawed_and_walked_now_and_then():
    schedule = CollectorSchedule(interval=0.05, whole_heap_interval=0.3)
    await schedule.start()
    try:
        nodes = [Node() for _ in range(100)]
        refs = [weakref.ref(node) for node in nodes]
        await asyncio.sleep(0.15)  # collected and frozen
        nodes.clear()  # the cycles are garbage now, but frozen
        await asyncio.sleep(0.6)  # a thawed collection has run since
        assert gc.get_freeze_count() > 0
        assert all(ref() is None for ref in refs)
    finally:
        await schedule.stop()
