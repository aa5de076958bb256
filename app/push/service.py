"""Web Push as one part of the app: its key, its sender, receipts and dispatcher, started
and stopped together by the lifespan (app/main.py)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.broker import Broker
from app.core.config import Settings
from app.core.hub import Hub
from app.core.metrics import Metrics
from app.push.dispatcher import PushDispatcher
from app.push.endpoints import EndpointRule
from app.push.receipts import PushReceipts
from app.push.sender import PushSender
from app.push.vapid import VapidKey, load_vapid_key
from app.services.limiter import Limiter

PUSH_CHANNEL = "push-subscriptions"


class WebPush:
    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        broker: Broker,
        hub: Hub,
        limiter: Limiter,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.vapid: VapidKey = load_vapid_key(settings.vapid_private_key, settings.vapid_subject)
        self.receipts = PushReceipts(hub, broker, PUSH_CHANNEL, session_factory)
        # The SSRF rule, the same when a browser subscribes and before each send.
        self.rule = EndpointRule(
            tuple(settings.push_allowed_hosts), allow_private=settings.push_allow_private_endpoints
        )
        sender = PushSender(
            self.vapid,
            ttl=settings.push_ttl_seconds,
            timeout=settings.push_attempt_timeout,
            rule=self.rule,
            concurrency=settings.push_concurrency,
        )
        self.dispatcher = PushDispatcher(
            session_factory, sender, self.receipts, limiter, settings, metrics
        )

    async def start(self) -> None:
        await self.receipts.start()
        await self.dispatcher.start()

    async def stop(self) -> None:
        await self.dispatcher.stop()
        await self.receipts.stop()
