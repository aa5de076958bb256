"""Streams whose client takes nothing: SSE_WRITE_TIMEOUT, one timer for all of them."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

CHECKS_PER_TIMEOUT = 4  # a stalled stream ends 1 to 1.5 timeouts after its last byte taken
CHECK_BATCH = 500  # streams looked at per loop callback


class Stallable(Protocol):
    def unsent(self) -> int:
        """Bytes the server holds for the client, not yet taken by it."""

    def stalled(self) -> None:
        """The client took none of them for the whole timeout."""


class Stalls:
    """Streams written to lately, checked together a few times per `timeout`: one with bytes
    waiting for its client (in the server's buffer or the socket's send queue) that have
    not gone down for `timeout` seconds is told it stalled. A write costs a set insertion;
    each check looks once at every stream written to since the last, and keeps watching
    only those with bytes still waiting, so streams whose clients read along cost next to
    nothing here.

    Progress is the waiting bytes going down: a stream is written nothing more while its
    client's socket buffer is full (the transports pause), so there they only go down."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._written: set[Stallable] = set()  # since the last check
        self._watched: dict[Stallable, tuple[int, float]] = {}  # -> (unsent, since when)
        self._queue: list[Stallable] = []  # the check under way: streams to look at
        self._now = 0.0  # the check's time
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, stream: Stallable) -> None:
        """`stream` was handed bytes for its client: look at it at the next check."""
        self._written.add(stream)
        if self._timer is None and not self._queue:
            self._schedule()

    def discard(self, stream: Stallable) -> None:
        self._written.discard(stream)
        self._watched.pop(stream, None)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue = []

    def _schedule(self) -> None:
        delay = self.timeout / CHECKS_PER_TIMEOUT
        self._timer = asyncio.get_running_loop().call_later(delay, self._check)

    def _check(self) -> None:
        self._timer = None
        written, self._written = self._written, set()
        self._queue = [*self._watched, *written.difference(self._watched)]
        self._now = time.monotonic()
        self._check_some()

    def _check_some(self) -> None:
        """CHECK_BATCH streams per loop callback: a check of 10,000 (a ping sweep writes to
        every stream) never holds the loop for long."""
        batch, self._queue = self._queue[:CHECK_BATCH], self._queue[CHECK_BATCH:]
        for stream in batch:
            self._look(stream)
        if self._queue:
            asyncio.get_running_loop().call_soon(self._check_some)
        elif self._watched or self._written:
            self._schedule()

    def _look(self, stream: Stallable) -> None:
        now, unsent = self._now, stream.unsent()
        entry = self._watched.get(stream)
        if entry is None:
            if unsent:
                self._watched[stream] = (unsent, now)
            return
        before, since = entry
        if not unsent:
            del self._watched[stream]  # all taken
        elif unsent < before:
            self._watched[stream] = (unsent, now)
        elif now - since >= self.timeout:
            del self._watched[stream]
            stream.stalled()
        elif unsent > before:
            self._watched[stream] = (unsent, since)  # written more, none taken yet
