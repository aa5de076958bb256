"""Assembly: create_app(settings) wires engine, broker, publisher and hub, in that order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.errors import install_error_handlers
from app.api.v1.endpoints import health
from app.api.v1.router import api_router
from app.broker import create_broker
from app.core.config import Settings, get_settings
from app.core.notification_manager import NotificationManager
from app.db.session import create_engine, create_session_factory
from app.services.bootstrap import ensure_first_superadmin
from app.services.notification_service import NotificationPublisher

NOTIFICATIONS_CHANNEL = "notifications"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        broker = create_broker(settings.broker_url, settings.broker_prefix)
        manager = NotificationManager(
            broker,
            NOTIFICATIONS_CHANNEL,
            ping_interval=settings.sse_ping_interval,
            max_pending=settings.sse_max_pending_events,
        )
        state = app.state
        state.settings, state.broker, state.manager = settings, broker, manager
        state.session_factory = create_session_factory(engine)
        state.publisher = NotificationPublisher(broker, NOTIFICATIONS_CHANNEL)
        state.shutting_down = False
        await broker.start()
        await manager.start()
        await ensure_first_superadmin(state.session_factory, settings)
        try:
            yield
        finally:
            # Streams first (they end cleanly), then the bus, then the database.
            state.shutting_down = True
            await manager.stop()
            await broker.stop()
            await engine.dispose()

    app = FastAPI(
        title="Salon notifications",
        version="0.1.0",
        description="Salon booking backend with real-time notifications over Server-Sent Events.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(api_router)
    return app
