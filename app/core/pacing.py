"""Sharing the event loop: long loops of synchronous work give way every few milliseconds.

A loop that delivers thousands of notifications (a catch-up from the database, a burst read
from Redis, a large group published) would otherwise hold the event loop for as long as it
runs: every stream write, request and ping waits behind it.
"""

from __future__ import annotations

import asyncio
import time

SLICE = 0.005  # seconds of work between two yields


class Pacer:
    """`await pacer.pause()` between units of work: yields once SLICE has run since the last."""

    __slots__ = ("_since", "slice")

    def __init__(self, slice_seconds: float = SLICE) -> None:
        self.slice = slice_seconds
        self._since = time.perf_counter()

    async def pause(self) -> None:
        if time.perf_counter() - self._since >= self.slice:
            await asyncio.sleep(0)
            self._since = time.perf_counter()
