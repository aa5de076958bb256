"""The operations overview for the platform's superadmins (the dashboard's operations view)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.api.deps import CurrentPrincipal
from app.schemas.operations import OpsOverview
from app.services import policy

router = APIRouter(prefix="/ops", tags=["operations"])


@router.get("/overview", response_model=OpsOverview)
async def overview(principal: CurrentPrincipal, request: Request) -> object:
    """The whole deployment at a glance: connections per instance, the last 15 minutes'
    activity, the busiest salons, health. Superadmins only; counted in the stats limit
    (LIMIT_STATS_REQUESTS per LIMIT_STATS_WINDOW seconds per caller, 429 past it)."""
    policy.require_superadmin(principal)
    await request.app.state.limiter.stats_request(principal)
    return await request.app.state.operations.overview()
