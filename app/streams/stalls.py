"""Streams whose client takes nothing: SSE_WRITE_TIMEOUT, one timer for all of them."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

CHECKS_PER_TIMEOUT = 4  # a stalled stream ends between 1 and 1.25 timeouts after its last byte


class Stallable(Protocol):
    def unsent(self) -> int:
        """Bytes the server holds for the client, not yet taken by it."""

    def stalled(self) -> None:
        """The client took none of them for the whole timeout."""


class Stalls:
    """Streams with bytes waiting for their client, checked together a few times per
    `timeout`: one whose waiting bytes have not gone down for `timeout` seconds is told it
    stalled. Only streams that were left with bytes waiting are watched, and only until
    the bytes are gone, so a process of 10,000 streams reading along costs nothing here.

    Progress is the waiting bytes going down: a stream is written nothing more while its
    client's socket buffer is full (the transports pause), so there they only go down."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._watched: dict[Stallable, tuple[int, float]] = {}  # -> (unsent, since when)
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, stream: Stallable) -> None:
        """Bytes may wait for `stream`'s client now (a write was handed to its socket)."""
        if stream not in self._watched:
            self._watched[stream] = (stream.unsent(), time.monotonic())
            if self._timer is None:
                self._schedule()

    def discard(self, stream: Stallable) -> None:
        self._watched.pop(stream, None)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self) -> None:
        delay = self.timeout / CHECKS_PER_TIMEOUT
        self._timer = asyncio.get_running_loop().call_later(delay, self._check)

    def _check(self) -> None:
        self._timer = None
        now = time.monotonic()
        stalled = []
        for stream, (before, since) in list(self._watched.items()):
            unsent = stream.unsent()
            if not unsent:
                del self._watched[stream]  # all taken
            elif unsent < before:
                self._watched[stream] = (unsent, now)
            elif now - since >= self.timeout:
                del self._watched[stream]
                stalled.append(stream)
            elif unsent > before:
                self._watched[stream] = (unsent, since)  # written more, none taken yet
        for stream in stalled:
            stream.stalled()
        if self._watched:
            self._schedule()
