"""Ending the open streams when the server is asked to stop (SIGTERM, Ctrl-C)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from app.core.hub import Hub


class DrainOnSignal:
    """On SIGTERM (or Ctrl-C), end the open streams spread over the drain window before
    letting the server shut down: uvicorn would otherwise wait for responses that never
    end by themselves. A second signal stops at once. Works in every worker process."""

    def __init__(self, hub: Hub, window: float, on_drain: Callable[[], None]) -> None:
        self.hub = hub
        self.window = window
        self.on_drain = on_drain  # the process stops being ready (/readyz answers 503)
        self._previous: dict[int, Callable[[int, FrameType | None], Any]] = {}
        self._draining = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if callable(previous):  # uvicorn's handler; without one, nothing to wrap
                self._previous[sig] = previous
                signal.signal(sig, lambda s, f: self._on_signal(loop, s, f))

    async def stop(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)

    def _on_signal(
        self, loop: asyncio.AbstractEventLoop, sig: int, frame: FrameType | None
    ) -> None:
        if self._draining:
            self._previous[sig](sig, frame)
            return
        self._draining = True
        self.on_drain()
        loop.call_soon_threadsafe(lambda: loop.create_task(self._drain_then_stop(sig, frame)))

    async def _drain_then_stop(self, sig: int, frame: FrameType | None) -> None:
        try:
            await self.hub.drain(self.window)
            await self.hub.stop()
        finally:
            self._previous[sig](sig, frame)
