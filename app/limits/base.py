"""The contract of a limit store: fixed-window rates and leased concurrency slots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol


class LimitStoreError(Exception):
    """The store could not be reached or answered nonsense."""


class LimitStore(Protocol):
    async def start(self) -> None:
        """Prepare (nothing connects before the first call)."""

    async def stop(self) -> None:
        """Give back every slot this process holds and close."""

    async def hit(self, key: str, limit: int, window: float) -> float:
        """Count one hit on `key`: 0 within `limit` per window, else seconds until it resets."""

    async def count(self, rates: Sequence[Rate]) -> tuple[int | None, float]:
        """Count one hit in every rate at once, or in none (one atomic step): (None, 0) when
        counted, else (the index of the first rate already at its limit, seconds until its
        window ends)."""

    async def take_back(self, keys: Sequence[str]) -> None:
        """Remove one hit from each key's current window (never below 0)."""

    async def acquire(self, lease: str, slots: Sequence[tuple[str, int]]) -> int | None:
        """Take a slot named `lease` in every (key, limit) at once, or none: None when taken,
        else the index of the first key already at its limit."""

    async def release(self, lease: str) -> None:
        """Give back the slots `lease` took (the store remembers which)."""

    async def hit_and_acquire(
        self, rate: Rate | None, lease: str, slots: Sequence[tuple[str, int]]
    ) -> tuple[float, int | None]:
        """`hit` on the rate, then, within it, `acquire` the slots, in one step (one round
        trip to Redis): (seconds to wait, None) past the rate, with no slot taken; else
        (0, what `acquire` answers)."""


class Rate(NamedTuple):
    key: str
    limit: int
    window: float
