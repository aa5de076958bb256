"""The event-loop monitor: pauses are seen, and an idle process isn't woken 100 times a second."""

from __future__ import annotations

import asyncio
import time

from app.core.loop_monitor import LoopMonitor
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
    assert 0.04 <= pause < 0.5


async def test_an_idle_loop_is_watched_slowly_and_a_busy_one_every_10_ms():
    metrics = Metrics()
    monitor = LoopMonitor(metrics, interval=0.01, idle_interval=0.1)
    await monitor.start()
    try:
        await asyncio.sleep(1.0)
        idle_ticks = metrics.loop_lag.count
        busy_until = time.perf_counter() + 0.5
        while time.perf_counter() < busy_until:
            await asyncio.sleep(0)
        busy_ticks = metrics.loop_lag.count - idle_ticks
    finally:
        await monitor.stop()
    assert idle_ticks <= 25  # about 10 a second, not 100
    assert busy_ticks >= 25  # about 100 a second
