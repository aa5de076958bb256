"""What each instance did, sample by sample: the operations page's 15-minute charts.

Every `interval` seconds (on the wall clock's multiples of it, so that the instances' samples
line up) an instance turns its metrics' counters into a Sample: what changed since the previous
one (notifications created, deliveries and their latency buckets, slow consumers dropped, limit
refusals), its open streams and its event loop's p99 lag. Presence carries each instance's latest
samples to the others, and every instance keeps the last 15 minutes of every instance's samples
(a ring per instance), so whichever answers shows the whole deployment.

In memory only: an instance that restarts starts with empty charts, filled as samples come;
the others keep theirs, the restarted one's earlier samples included.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from typing import TypedDict

from app.core.hub import Hub
from app.core.metrics import quantile
from app.core.tasks import cancel_and_wait

HISTORY_SECONDS = 15 * 60


class Sample(TypedDict):
    """One instance's interval; counts are of that interval, `t` is when it ended (unix)."""

    t: float
    streams: int
    created: int
    deliveries: int
    latency: list[int]  # delivery latency bucket counts (LATENCY_BUCKETS, then +Inf)
    slow_consumers: int
    refusals: int
    loop_lag_p99: float  # seconds


class Series(TypedDict):
    """The deployment, slot by slot: every instance's samples of a slot added up."""

    interval: float
    t: list[float]
    streams: list[int]
    created_per_second: list[float]
    deliveries_per_second: list[float]
    latency_p50_ms: list[float | None]
    latency_p99_ms: list[float | None]
    slow_consumers_dropped: list[int]
    limit_refusals: list[int]


class History:
    """The last 15 minutes of samples, per instance."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._length = max(1, math.ceil(HISTORY_SECONDS / interval))
        self._rings: dict[str, deque[Sample]] = {}

    def record(self, instance: str, sample: Sample) -> None:
        ring = self._rings.setdefault(instance, deque(maxlen=self._length))
        if not ring or sample["t"] > ring[-1]["t"]:  # a heartbeat repeats the last one
            ring.append(sample)

    def latest(self, instance: str) -> Sample | None:
        ring = self._rings.get(instance)
        return ring[-1] if ring else None

    def recent(self, instance: str, count: int) -> list[Sample]:
        """The instance's last `count` samples, oldest first."""
        ring = self._rings.get(instance, ())
        return list(itertools.islice(ring, max(0, len(ring) - count), None))

    def series(self, now: float) -> Series:
        oldest = now - HISTORY_SECONDS
        for name in [n for n, ring in self._rings.items() if ring[-1]["t"] < oldest]:
            del self._rings[name]  # an instance gone for longer than the charts reach back
        slots: dict[int, list[Sample]] = {}
        for ring in self._rings.values():
            for sample in ring:
                if sample["t"] >= oldest:
                    slots.setdefault(round(sample["t"] / self.interval), []).append(sample)
        series = Series(
            interval=self.interval, t=[], streams=[], created_per_second=[],
            deliveries_per_second=[], latency_p50_ms=[], latency_p99_ms=[],
            slow_consumers_dropped=[], limit_refusals=[],
        )  # fmt: skip
        for slot in sorted(slots):
            samples = slots[slot]
            latency = [sum(counts) for counts in zip(*(s["latency"] for s in samples), strict=True)]
            delivered = sum(latency) > 0
            series["t"].append(slot * self.interval)
            series["streams"].append(sum(s["streams"] for s in samples))
            series["created_per_second"].append(sum(s["created"] for s in samples) / self.interval)
            series["deliveries_per_second"].append(
                sum(s["deliveries"] for s in samples) / self.interval
            )
            series["latency_p50_ms"].append(quantile(latency, 0.5) * 1000 if delivered else None)
            series["latency_p99_ms"].append(quantile(latency, 0.99) * 1000 if delivered else None)
            series["slow_consumers_dropped"].append(sum(s["slow_consumers"] for s in samples))
            series["limit_refusals"].append(sum(s["refusals"] for s in samples))
        return series


class Sampler:
    """Takes this instance's sample every `interval` seconds into the history."""

    def __init__(self, hub: Hub, history: History, instance: str) -> None:
        self.hub = hub
        self.history = history
        self.instance = instance
        self._previous = hub.metrics.totals()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._previous = self.hub.metrics.totals()  # what came before is not this interval's
        self._task = asyncio.get_running_loop().create_task(self._sample_forever())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    def take(self, t: float) -> Sample:
        latest = self.history.latest(self.instance)
        if latest is not None and latest["t"] >= t:
            # A second wake-up in a slot already sampled: what happened since waits for the
            # next slot (taking it now would be dropped as a repeat, and lost).
            return latest
        now, before = self.hub.metrics.totals(), self._previous
        self._previous = now
        lag = [a - b for a, b in zip(now.loop_lag, before.loop_lag, strict=True)]
        sample = Sample(
            t=t,
            streams=self.hub.connection_count,
            created=now.created - before.created,
            deliveries=now.deliveries - before.deliveries,
            latency=[a - b for a, b in zip(now.latency, before.latency, strict=True)],
            slow_consumers=now.slow_consumers - before.slow_consumers,
            refusals=now.refusals - before.refusals,
            loop_lag_p99=quantile(lag, 0.99),
        )
        self.history.record(self.instance, sample)
        return sample

    async def _sample_forever(self) -> None:
        interval = self.history.interval
        while True:
            await asyncio.sleep(interval - time.time() % interval)
            self.take(round(time.time() / interval) * interval)
