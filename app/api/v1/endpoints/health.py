from __future__ import annotations

from contextlib import suppress

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """The database and the broker answer."""
    state = request.app.state
    checks = {"database": False, "broker": False}
    with suppress(Exception):
        async with state.session_factory() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = True
    with suppress(Exception):
        checks["broker"] = bool(await state.broker.ping())
    ready = all(checks.values()) and not state.shutting_down
    return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format, this process's figures (scrape each instance)."""
    return PlainTextResponse(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
