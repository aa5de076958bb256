"""Background tasks: the one way they are stopped."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait until it has ended; None: nothing to stop."""
    if task is None:
        return
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
