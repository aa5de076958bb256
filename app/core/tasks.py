"""Background tasks: the one way they are stopped."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

# A cancellation can be swallowed by a library the task is awaiting in (redis-py turns a
# cancelled read into a ConnectionError, which a retry loop then catches and carries on):
# the task is cancelled again this often until it has ended.
CANCEL_AGAIN_AFTER = 0.1


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait until it has ended; None: nothing to stop."""
    if task is None:
        return
    task.cancel()
    while not (await asyncio.wait({task}, timeout=CANCEL_AGAIN_AFTER))[0]:
        task.cancel()
    with suppress(asyncio.CancelledError):
        await task  # ended: its own error, if it failed, is raised here
