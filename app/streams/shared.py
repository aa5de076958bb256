"""What every stream of the process shares: who may listen to what, where its replay
comes from, the limits, the flusher, the deadlines, the stalled writes, and the tasks
giving slots back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from app.core.config import Settings
from app.core.connection import Kind, Subscription
from app.core.hub import Hub
from app.core.security import Principal
from app.schemas.notification import NotificationFilter
from app.services import policy
from app.services.limiter import Limiter
from app.streams.expiries import Expiries
from app.streams.flusher import Flusher
from app.streams.stalls import Stalls

logger = logging.getLogger(__name__)

Replay = AsyncGenerator[tuple[bytes, int, tuple[int, ...]], None]  # pages: bytes, last id, ids
# What a subscription missed after an id (app.services.replay, on the database).
ReplaySource = Callable[[Subscription, int], Replay]
STOP_TIMEOUT = 5.0  # for the slots still being given back when the process stops


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """What the client asked for: its filter, and where to resume (`Last-Event-ID`)."""

    filter: NotificationFilter
    last_event_id: int | None


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """A stream asked for: by whom, which kind, with what options (and a customer's salon)."""

    principal: Principal
    kind: Kind
    options: StreamOptions
    salon_filter: int | None = None


class Streams:
    """The streams of this process: the hub, the limits, the flusher, the deadlines."""

    def __init__(
        self,
        hub: Hub,
        settings: Settings,
        limiter: Limiter,
        replay: ReplaySource,
    ) -> None:
        self.hub = hub
        self.metrics = hub.metrics
        self.settings = settings
        self.limiter = limiter
        self._replay = replay
        self.flusher = Flusher(hub.metrics)
        self.expiries = Expiries()
        self.stalls = Stalls(settings.sse_write_timeout)
        self._tasks: set[asyncio.Task[object]] = set()

    def subscribe(self, request: StreamRequest) -> Subscription:
        """What the stream listens to; DomainError (403, 422) when policy refuses it."""
        return policy.stream_subscription(
            request.principal, request.kind, request.salon_filter, request.options.filter
        )

    def replay_for(self, subscription: Subscription, last_event_id: int | None) -> Replay | None:
        if last_event_id is None:
            return None  # no Last-Event-ID: live only; the REST list is the history
        return self._replay(subscription, last_event_id)

    def spawn(self, coroutine: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[object]) -> None:
        """Forget the task; what it raised is logged with its traceback, never left unread."""
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("a stream task failed", exc_info=exc)

    async def stop(self) -> None:
        """Stop the deadline timer; let the openings and slot releases under way finish
        (after the hub's stop: a loop turn or two lets the streams it ended finish)."""
        self.expiries.stop()
        self.stalls.stop()
        for _ in range(2):
            await asyncio.sleep(0)
        if self._tasks:
            _, late = await asyncio.wait(tuple(self._tasks), timeout=STOP_TIMEOUT)
            for task in late:
                task.cancel()
