"""Writing woken streams after the loop iteration that woke them, a batch per callback."""

from __future__ import annotations

import asyncio
from typing import Protocol

from app.core.metrics import Metrics

FLUSH_BATCH = 500  # streams written per loop callback


class Flushable(Protocol):
    queued: bool  # woken, and waiting for the flusher

    def flush(self) -> None: ...


class Flusher:
    """Writes every stream woken during a loop iteration once, after it: a burst of
    notifications to one client becomes one write, and a broadcast one callback per
    FLUSH_BATCH streams (so that writing to 10,000 sockets never holds the loop for long).
    Deliveries are counted in the metrics per round, not per write."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.delivered: dict[float, int] = {}  # oldest creation time in a chunk -> notifications
        self._woken: list[Flushable] = []
        self._scheduled = False

    def add(self, stream: Flushable) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        self._woken.append(stream)

    def count(self, oldest: float, notes: int) -> None:
        """`notes` notifications written in a chunk whose oldest was created at `oldest`."""
        self.delivered[oldest] = self.delivered.get(oldest, 0) + notes

    def _flush(self) -> None:
        woken = self._woken
        batch, self._woken = woken[:FLUSH_BATCH], woken[FLUSH_BATCH:]
        for stream in batch:
            stream.queued = False
            stream.flush()
        delivered, self.delivered = self.delivered, {}
        for oldest, count in delivered.items():
            self.metrics.delivered(count, oldest)
        if self._woken:
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._scheduled = False
