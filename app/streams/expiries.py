"""Stream deadlines kept by the second: one timer for every stream of the process."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Protocol


class Expiring(Protocol):
    def expire(self) -> None: ...


class Expiries:
    """When streams must end (their credential's expiry or the maximum lifetime), kept by
    the second: one timer for all of them instead of a timer handle per stream (four
    objects each for the garbage collector to walk)."""

    def __init__(self) -> None:
        self._due: dict[int, set[Expiring]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._next = 0  # the second the timer is set for

    def add(self, stream: Expiring, deadline: float) -> int:
        """Call `stream.expire()` at `deadline` (epoch seconds); returns the key to discard it."""
        second = math.ceil(deadline)
        self._due.setdefault(second, set()).add(stream)
        if self._timer is None or second < self._next:
            self._schedule()
        return second

    def discard(self, stream: Expiring, second: int) -> None:
        due = self._due.get(second)
        if due is not None:
            due.discard(stream)
            if not due:
                del self._due[second]

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self) -> None:
        self.stop()
        if self._due:
            self._next = min(self._due)
            delay = max(0.0, self._next - time.time())
            self._timer = asyncio.get_running_loop().call_later(delay, self._expire)

    def _expire(self) -> None:
        now = time.time()
        for second in sorted(s for s in self._due if s <= now):
            for stream in self._due.pop(second):
                stream.expire()
        self._schedule()
