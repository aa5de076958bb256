"""Assembly: the FastAPI app behind the front door (app/api/front_door.py); its runtime
(app/runtime.py) is started by the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from app.api.cors import install_cors
from app.api.errors import ERROR_RESPONSES, install_error_handlers
from app.api.front_door import ROUTES, FrontDoor
from app.api.middleware import BodySizeLimit, RelativeRedirects
from app.api.parameters import document_bodies
from app.api.v1.endpoints import health
from app.api.v1.router import api_router
from app.api.web import mount_web
from app.core.config import Settings, get_settings
from app.core.metrics import Metrics
from app.runtime import started
from app.schemas.notification import ExtraDataLimit


def create_app(settings: Settings | None = None) -> ASGIApp:
    """The service as one ASGI app: FastAPI behind the front door (FRONT_DOOR=0: closed)."""
    settings = settings or get_settings()
    app = create_fastapi_app(settings)
    return FrontDoor(app, open=settings.front_door)


def create_fastapi_app(settings: Settings) -> FastAPI:
    metrics = Metrics()
    metrics.front_door_routes(route.name for route in ROUTES)
    ExtraDataLimit.max_bytes = settings.max_extra_data_bytes

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with started(settings, metrics) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="Salon notifications",
        # FastAPI's own OpenTelemetry hooks cost a tenth of every request even unused.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        version="0.1.0",
        description="Salon booking backend with real-time notifications over Server-Sent Events.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_body_bytes, metrics=metrics)
    app.add_middleware(RelativeRedirects)
    install_cors(app, settings)
    mount_web(app)
    app.include_router(health.router)
    app.include_router(api_router, responses=ERROR_RESPONSES)
    generate = app.openapi
    # The bodies the readers parse are described from their models, not by FastAPI's.
    app.openapi = lambda: app.openapi_schema or document_bodies(generate())  # type: ignore[method-assign]
    return app
