"""Stream tokens: what a page of another origin puts in `new EventSource(url + "?token=...")`."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response
from pydantic import BaseModel

from app.api.deps import CurrentPrincipal, SettingsDep
from app.core.security import STREAM
from app.services import policy
from app.services.accounts import issue_token

router = APIRouter(prefix="/notifications", tags=["notifications"])


class StreamTokenPublic(BaseModel):
    token: str
    expires_in: int


@router.post("/stream-token", response_model=StreamTokenPublic)
async def create_stream_token(
    principal: CurrentPrincipal, settings: SettingsDep, response: Response
) -> StreamTokenPublic:
    """A token that opens the caller's streams (`?token=`) and is refused anywhere else; it
    lives STREAM_TOKEN_EXPIRE_MINUTES, long enough for EventSource's automatic reconnects."""
    policy.require_recipient(principal)
    lifetime = timedelta(minutes=settings.stream_token_expire_minutes)
    token = issue_token(
        settings,
        user_id=principal.user_id,
        role=principal.role,
        salon_id=principal.salon_id,
        lifetime=lifetime,
        token_type=STREAM,
        sid=principal.sid,  # signing out of the session revokes it too
    )
    response.headers["Cache-Control"] = "no-store"
    return StreamTokenPublic(token=token, expires_in=max(1, int(lifetime.total_seconds())))
