"""Limit counts of this process only (BROKER_URL=memory://, one instance)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from app.limits.base import Rate

SWEEP_AT = 10_000  # windows kept before the expired ones are dropped


class MemoryLimitStore:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (window end, hits)
        self._slots: dict[str, set[str]] = {}  # key -> leases holding a slot
        self._leases: dict[str, tuple[str, ...]] = {}  # lease -> its keys

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self._slots.clear()
        self._leases.clear()

    async def hit(self, key: str, limit: int, window: float) -> float:
        now = time.monotonic()
        ends, count = self._add(key, window, now)
        return 0.0 if count <= limit else ends - now

    async def count(self, rates: Sequence[Rate]) -> tuple[int | None, float]:
        now = time.monotonic()  # no await below: nothing runs between the check and the count
        for index, rate in enumerate(rates):
            ends, count = self._windows.get(rate.key, (0.0, 0))
            if ends > now and count >= rate.limit:
                return index, ends - now
        for rate in rates:
            self._add(rate.key, rate.window, now)
        return None, 0.0

    async def take_back(self, keys: Sequence[str]) -> None:
        now = time.monotonic()
        for key in keys:
            ends, count = self._windows.get(key, (0.0, 0))
            if ends > now and count > 0:
                self._windows[key] = (ends, count - 1)

    async def acquire(self, lease: str, slots: Sequence[tuple[str, int]]) -> int | None:
        for index, (key, limit) in enumerate(slots):
            if len(self._slots.get(key, ())) >= limit:
                return index
        for key, _ in slots:
            self._slots.setdefault(key, set()).add(lease)
        self._leases[lease] = tuple(key for key, _ in slots)
        return None

    async def release(self, lease: str) -> None:
        for key in self._leases.pop(lease, ()):
            holders = self._slots.get(key)
            if holders is not None:
                holders.discard(lease)
                if not holders:
                    del self._slots[key]

    async def hit_and_acquire(
        self, rate: Rate | None, lease: str, slots: Sequence[tuple[str, int]]
    ) -> tuple[float, int | None]:
        if rate is not None:
            wait = await self.hit(*rate)
            if wait > 0:
                return wait, None
        return 0.0, (await self.acquire(lease, slots) if slots else None)

    def _add(self, key: str, window: float, now: float) -> tuple[float, int]:
        """One more hit in `key`'s window (a new window if it ended): (its end, its hits)."""
        ends, count = self._windows.get(key, (0.0, 0))
        if ends <= now:
            if len(self._windows) >= SWEEP_AT:
                self._sweep(now)
            ends, count = now + window, 0
        self._windows[key] = (ends, count + 1)
        return ends, count + 1

    def _sweep(self, now: float) -> None:
        for key in [k for k, (ends, _) in self._windows.items() if ends <= now]:
            del self._windows[key]
