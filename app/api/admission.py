"""Admitting a live stream: the limits it must pass, and how long it may live.

A stream takes its slots under the limits when it starts to answer (nothing is sent yet,
so a refusal is still a 429 with Retry-After) and gives them back when it ends, however it
ends.
"""

from __future__ import annotations

import random
import time
from contextlib import AbstractAsyncContextManager, AsyncExitStack, nullcontext
from typing import Any

from starlette.types import Receive, Scope, Send

from app.api.errors import error_response
from app.api.streaming import EventStreamResponse
from app.core.config import Settings
from app.core.connection import Subscription
from app.core.security import Principal
from app.services.errors import LimitExceeded
from app.services.limits import Limiter

# Streams end up to this share of SSE_MAX_STREAM_SECONDS early, at random, so that clients
# connected together (after a deploy, say) don't all reconnect together every time.
LIFETIME_SPREAD = 0.1


def stream_deadline(principal: Principal, settings: Settings) -> float:
    """When a stream opened now must end: its credential's expiry or the maximum lifetime,
    whichever comes first (then the client reconnects and is checked again)."""
    lifetime = settings.sse_max_stream_seconds * (1 - LIFETIME_SPREAD * random.random())
    return min(principal.expires_at, time.time() + lifetime)


def admit(
    limiter: Limiter | None, principal: Principal, subscription: Subscription
) -> AbstractAsyncContextManager[None]:
    """Hold the stream's slots (principal, and the admin's salon) for the block."""
    if limiter is None:
        return nullcontext()
    salon_id = subscription.salon_id if subscription.kind == "admin" else None
    return limiter.stream(principal, salon_id)


class AdmittedEventStream(EventStreamResponse):
    """An EventStreamResponse that passes the limits first, and answers their 429 itself
    (it may run outside FastAPI's exception handlers: see app.api.fast_streams)."""

    def __init__(
        self, *args: Any, principal: Principal, limiter: Limiter | None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.principal = principal
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slots = AsyncExitStack()
        try:
            await slots.enter_async_context(admit(self.limiter, self.principal, self.subscription))
        except LimitExceeded as exc:
            await error_response(scope, exc, self.manager.metrics)(scope, receive, send)
            return
        async with slots:
            await super().__call__(scope, receive, send)
