"""Operations: liveness, readiness, and this process's Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.db.repositories.schema import schema_revision
from app.runtime import runtime_of

router = APIRouter(tags=["operations"])

# A readiness probe must answer even when a dependency hangs (a frozen Redis, a partitioned
# database): each check that takes longer counts as failed, within the 1 s probe timeout
# orchestrators use by default.
CHECK_TIMEOUT = 0.8


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        200: {"description": "Ready: the database and the broker answer"},
        503: {"description": "Not ready: a dependency is down, or the server is stopping"},
    },
)
async def readyz(request: Request) -> JSONResponse:
    """The database (its schema readable) and the broker answer, and the server is not stopping."""
    runtime = runtime_of(request.app)

    async def database() -> bool:
        async with runtime.session_factory() as session:
            await schema_revision(session)
        return True

    async def broker() -> bool:
        return bool(await runtime.broker.ping())

    database_ok, broker_ok = await asyncio.gather(_check(database), _check(broker))
    ready = database_ok and broker_ok and not runtime.shutting_down
    body = {"ready": ready, "database": database_ok, "broker": broker_ok}
    return JSONResponse(body, status_code=200 if ready else 503)


async def _check(probe: Callable[[], Awaitable[Any]]) -> bool:
    try:
        return bool(await asyncio.wait_for(probe(), CHECK_TIMEOUT))
    except Exception:
        return False


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    """Prometheus text format: this process's figures only; scrape every instance."""
    return Response(runtime_of(request.app).metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
