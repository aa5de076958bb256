"""Opening a live stream (SSE or WebSocket): who may, what it listens to, what it replays."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import WebSocket
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.admission import AdmittedEventStream, admit, stream_deadline
from app.api.streaming import EventStreamResponse, Replay
from app.api.websocket import serve_websocket
from app.core.config import Settings
from app.core.connection import Kind, Subscription
from app.core.notification_manager import NotificationManager
from app.core.security import Principal
from app.schemas.common import MAX_ID
from app.schemas.notification import NotificationFilter
from app.services import policy
from app.services.errors import BadRequest, InvalidRequest
from app.services.limits import Limiter
from app.services.replay import replay
from app.services.revocations import Revocations

# Query values are bounded so that a URL carrying all of them, percent-encoded, stays well
# under what the HTTP server reads (64 KiB): past that it answers 400 itself, not as JSON.
MAX_TYPES_LENGTH = 2000
MAX_TOKEN_LENGTH = 2048
MAX_EVENT_ID_LENGTH = 64


def make_filter(types: str | None, min_priority: str = "low") -> NotificationFilter:
    """`?types=a,b&min_priority=high` as a filter; InvalidRequest when it can't be one."""
    if types is not None and len(types) > MAX_TYPES_LENGTH:
        raise InvalidRequest(f"invalid filter: types longer than {MAX_TYPES_LENGTH} characters")
    names = None if types is None else frozenset(t.strip() for t in types.split(",") if t.strip())
    try:
        return NotificationFilter.model_validate(
            {"types": names or None, "min_priority": min_priority}
        )
    except ValidationError as exc:
        raise InvalidRequest(f"invalid filter: {exc.errors()[0]['msg']}") from exc


def parse_last_event_id(raw: str | None) -> int | None:
    """A notification id, or None when absent or empty (as EventSource sends it at first)."""
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    # The length first: int() of thousands of digits is slow, and refused past 4300.
    if len(value) > 19 or not value.isascii() or not value.isdigit() or int(value) > MAX_ID:
        raise BadRequest(f"Last-Event-ID must be a notification id, not {value[:40]!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """What the client asked for: its filter, and where to resume (`Last-Event-ID`)."""

    filter: NotificationFilter
    last_event_id: int | None


class StreamOpener:
    def __init__(
        self,
        manager: NotificationManager,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        revocations: Revocations,
        limiter: Limiter | None = None,
    ) -> None:
        self.manager = manager
        self.settings = settings
        self.session_factory = session_factory
        self.revocations = revocations
        self.limiter = limiter

    def subscribe(
        self,
        principal: Principal,
        kind: Kind,
        options: StreamOptions,
        salon_filter: int | None = None,
    ) -> Subscription:
        return policy.stream_subscription(principal, kind, salon_filter, options.filter)

    def replay_for(self, subscription: Subscription, options: StreamOptions) -> Replay | None:
        if options.last_event_id is None:
            return None  # no Last-Event-ID: live only; the REST list is the history
        return replay(self.session_factory, subscription, options.last_event_id)

    def deadline(self, principal: Principal) -> float:
        return stream_deadline(principal, self.settings)

    def sse(
        self,
        principal: Principal,
        kind: Kind,
        options: StreamOptions,
        salon_filter: int | None = None,
    ) -> EventStreamResponse:
        subscription = self.subscribe(principal, kind, options, salon_filter)
        return AdmittedEventStream(
            self.manager,
            subscription,
            self.settings.sse_retry_ms,
            self.deadline(principal),
            self.replay_for(subscription, options),
            principal=principal,
            limiter=self.limiter,
        )

    async def websocket(
        self,
        websocket: WebSocket,
        kind: Kind,
        options: StreamOptions,
        salon_filter: int | None = None,
    ) -> None:
        await serve_websocket(
            websocket,
            lambda principal: self.subscribe(principal, kind, options, salon_filter),
            lambda subscription: self.replay_for(subscription, options),
            lambda principal, subscription: admit(self.limiter, principal, subscription),
            self.deadline,
        )
