"""Operations: liveness, readiness, and this process's Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.runtime import runtime_of
from app.services.readiness import check_dependencies

router = APIRouter(tags=["operations"])


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
    database_ok, broker_ok = await check_dependencies(runtime.session_factory, runtime.broker)
    ready = database_ok and broker_ok and not runtime.shutting_down
    body = {"ready": ready, "database": database_ok, "broker": broker_ok}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    """Prometheus text format: this process's figures only; scrape every instance."""
    return Response(runtime_of(request.app).metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
