"""Opening a live stream (SSE or WebSocket): who may, what it listens to, what it replays."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import WebSocket
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.streaming import EventStreamResponse, Replay
from app.api.websocket import serve_websocket
from app.core.config import Settings
from app.core.connection import Kind, Subscription
from app.core.notification_manager import NotificationManager
from app.core.security import Principal
from app.schemas.notification import NotificationFilter
from app.services import policy
from app.services.replay import replay


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
    ) -> None:
        self.manager = manager
        self.settings = settings
        self.session_factory = session_factory

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

    def sse(
        self,
        principal: Principal,
        kind: Kind,
        options: StreamOptions,
        salon_filter: int | None = None,
    ) -> EventStreamResponse:
        subscription = self.subscribe(principal, kind, options, salon_filter)
        return EventStreamResponse(
            self.manager,
            subscription,
            self.settings.sse_retry_ms,
            principal.expires_at,
            self.replay_for(subscription, options),
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
        )
