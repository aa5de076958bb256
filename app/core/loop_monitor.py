"""Watches the event loop for pauses (a long callback, a garbage collection, a blocking call).

A timer asks to wake every `interval` (every `idle_interval` while the process is idle);
how late it wakes is how long the loop was busy.
The lateness goes to `salon_event_loop_lag_seconds` (histogram) and its maximum since
start to `salon_event_loop_lag_max_seconds`. Full garbage collections are timed too, via
`gc.callbacks`, into `salon_gc_pause_max_seconds`.
"""

from __future__ import annotations

import asyncio
import gc
import time
from contextlib import suppress
from typing import Any

from app.core.metrics import Metrics
from app.core.tasks import cancel_and_wait

IDLE_CPU_SHARE = 0.2  # CPU used since the last tick, relative to the fast interval


class LoopMonitor:
    def __init__(
        self, metrics: Metrics, interval: float = 0.01, idle_interval: float = 0.1
    ) -> None:
        self.metrics = metrics
        self.interval = interval
        self.idle_interval = idle_interval
        self._timer: asyncio.TimerHandle | None = None
        self._expected = 0.0
        self._max = 0.0
        self._cpu = 0.0
        self._gc_started = 0.0

    async def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        loop = asyncio.get_running_loop()
        self._expected = loop.time() + self.interval
        self._timer = loop.call_at(self._expected, self._tick, loop)

    async def stop(self) -> None:
        with suppress(ValueError):
            gc.callbacks.remove(self._on_gc)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        # Waking 100 times a second costs about 1 % of a core on this kind of machine, which
        # is most of what an idle server spends: while the process uses next to no CPU (so
        # nothing can pause the loop for long), the timer wakes every `idle_interval`.
        now = loop.time()
        lag = now - self._expected
        if lag < 0.0:
            lag = 0.0
        self.metrics.loop_lag.observe(lag)
        if lag > self._max:
            self._max = lag
            self.metrics.loop_lag_max.set(lag)
        cpu = time.process_time()
        idle = cpu - self._cpu < IDLE_CPU_SHARE * self.interval and lag < self.interval
        self._cpu = cpu
        self._expected = now + (self.idle_interval if idle else self.interval)
        self._timer = loop.call_at(self._expected, self._tick, loop)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif info.get("generation") == 2:
            pause = time.perf_counter() - self._gc_started
            if pause > self.metrics.gc_pause_max._value.get():
                self.metrics.gc_pause_max.set(pause)


class CollectorSchedule:
    """Full garbage collections that each walk only what is new since the last one.

    Python collects the oldest generation whenever it has grown by a quarter, and each
    collection walks every live object: measured here, 114 ms at 10,000 streams (about 10
    tracked objects each, and cache misses make it worse than linear). Instead, what
    survives a full collection is frozen (`gc.freeze`), so the next one walks only what was
    made since. Full collections come both on a timer (every `interval` seconds) and, as
    Python's own, after `FULL_AFTER` collections of the middle generation: with growth (10,000
    streams opening at once) each one then walks a few thousand new objects, not all of them
    at the next tick of the timer (66 ms measured when the timer came first).

    The price: a frozen object that later becomes part of a reference cycle is not
    reclaimed until the heap is thawed. Streams leave no cycle when they close (measured:
    0 unreachable objects after 2,000 closed); other long-lived objects rarely do. Every
    `whole_heap_interval` seconds the heap is thawed first, so that one collection walks
    everything (the long pause, once per that interval; 0: never).
    """

    FULL_AFTER = 0  # more collections of the middle generation than this (each ~7,700 objects)

    def __init__(self, interval: float, whole_heap_interval: float = 0) -> None:
        self.interval = interval
        self.whole_heap_interval = whole_heap_interval
        self._task: asyncio.Task[None] | None = None
        self._thresholds = gc.get_threshold()

    async def start(self) -> None:
        collect_and_freeze()  # before serving: a whole-heap pause, while nobody waits
        if self.interval > 0:
            young, middle, _ = self._thresholds
            gc.set_threshold(young, middle, self.FULL_AFTER)
            gc.callbacks.append(self._freeze_survivors)
            self._task = asyncio.get_running_loop().create_task(self._collect_forever())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        with suppress(ValueError):
            gc.callbacks.remove(self._freeze_survivors)
        gc.set_threshold(*self._thresholds)
        gc.unfreeze()

    @staticmethod
    def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
        # After a full collection the younger generations are empty: all that is left has
        # survived one, and is moved where the next one won't walk it.
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    async def _collect_forever(self) -> None:
        loop = asyncio.get_running_loop()
        thawed_at = loop.time()
        while True:
            await asyncio.sleep(self.interval)
            if self.whole_heap_interval and loop.time() - thawed_at >= self.whole_heap_interval:
                thawed_at = loop.time()
                gc.unfreeze()
            collect_and_freeze()


def collect_and_freeze() -> None:
    gc.collect()
    gc.freeze()
    # Python collects the oldest generation only once it has grown by a quarter of what the
    # last full collection kept: after a whole-heap one, a quarter of the heap, walked in one
    # long pause. A second collection, over nothing now, starts that count afresh.
    gc.collect()
