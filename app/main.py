"""Assembly: create_app(settings) starts storage, bus, hub and the jobs around them, in order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from app.api.cors import install_cors
from app.api.direct_streams import DirectStreams
from app.api.errors import ERROR_RESPONSES, install_error_handlers
from app.api.fast_streams import SalonAPI
from app.api.middleware import BodySizeLimit
from app.api.streams import StreamOpener
from app.api.v1.endpoints import health
from app.api.v1.router import api_router
from app.api.web import mount_web
from app.broker import create_broker
from app.core.config import Settings, get_settings
from app.core.loop_monitor import CollectorSchedule, LoopMonitor
from app.core.metrics import Metrics
from app.core.notification_manager import NotificationManager
from app.db.session import create_engine, create_session_factory
from app.limits import create_limit_store
from app.push.service import WebPush
from app.server import DrainOnSignal
from app.services.bootstrap import ensure_first_superadmin
from app.services.delivery import DeliverySequencer
from app.services.limits import Limiter
from app.services.notification_service import NotificationCreator
from app.services.presence import Presence
from app.services.publishing import NotificationPublisher
from app.services.retention import RetentionJob
from app.services.writer import NotificationWriter

NOTIFICATIONS_CHANNEL = "notifications"
PRESENCE_CHANNEL = "presence"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        session_factory = create_session_factory(engine)
        broker = create_broker(settings.broker_url, settings.broker_prefix)
        manager = NotificationManager(
            ping_interval=settings.sse_ping_interval,
            max_pending=settings.sse_max_pending_events,
            metrics=app.state.metrics,
        )
        sequencer = DeliverySequencer(
            manager, broker, NOTIFICATIONS_CHANNEL, session_factory, settings.catch_up_interval
        )
        presence = Presence(manager, broker, PRESENCE_CHANNEL, settings.presence_interval)
        retention = RetentionJob(
            session_factory,
            timedelta(days=settings.notification_retention_days),
            settings.retention_interval_seconds,
        )
        state = app.state
        state.settings, state.broker, state.manager = settings, broker, manager
        state.session_factory, state.presence = session_factory, presence
        publisher = NotificationPublisher(broker, NOTIFICATIONS_CHANNEL, state.metrics)
        state.creator = NotificationCreator(NotificationWriter(session_factory, publisher))
        limiter = Limiter(create_limit_store(settings.broker_url, settings.broker_prefix), settings)
        state.limiter = limiter
        state.streams = StreamOpener(manager, settings, session_factory, limiter)
        state.direct_streams = DirectStreams(state.streams)
        state.shutting_down = False
        drain_on_signal = DrainOnSignal(app)
        # Web Push (app/push/): pushes to recipients whose streams didn't get a notification.
        state.push = WebPush(settings, session_factory, broker, manager, state.metrics)
        # Started in this order and stopped in the reverse one.
        parts: tuple[Any, ...] = (
            broker,
            limiter,
            manager,
            sequencer,
            presence,
            retention,
            state.push,
        )
        for part in parts:
            await part.start()
        await ensure_first_superadmin(session_factory, settings)
        await drain_on_signal.start()
        collector = CollectorSchedule(
            settings.gc_full_collect_interval, settings.gc_whole_heap_interval
        )
        monitor = LoopMonitor(app.state.metrics)
        for part in (collector, monitor):  # last: start-up's own collection is not a pause
            await part.start()
        parts = (*parts, drain_on_signal, collector, monitor)
        try:
            yield
        finally:
            state.shutting_down = True
            for part in reversed(parts):
                await part.stop()
            await engine.dispose()

    app = SalonAPI(
        title="Salon notifications",
        # FastAPI's own OpenTelemetry hooks cost a tenth of every request even unused.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        version="0.1.0",
        description="Salon booking backend with real-time notifications over Server-Sent Events.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_request_body_bytes, metrics=app.state.metrics
    )
    install_cors(app, settings)
    mount_web(app)
    app.include_router(health.router)
    app.include_router(api_router, responses=ERROR_RESPONSES)
    return app
