"""The operations overview for the platform's superadmins (the dashboard's operations view)."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import CurrentPrincipal, RuntimeDep
from app.schemas.operations import OpsOverview
from app.services import policy

router = APIRouter(prefix="/ops", tags=["operations"])


@router.get("/overview", response_model=OpsOverview)
async def overview(principal: CurrentPrincipal, runtime: RuntimeDep) -> object:
    """The whole deployment at a glance: connections per instance, the last 15 minutes'
    activity, the busiest salons, health. Superadmins only; counted in the stats limit
    (LIMIT_STATS_REQUESTS per LIMIT_STATS_WINDOW seconds per caller, 429 past it)."""
    policy.require_superadmin(principal)
    await runtime.limiter.stats_request(principal)
    return await runtime.operations.overview()
