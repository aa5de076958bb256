"""Dependencies as Annotated aliases: settings, session, principal, services, hub.

All are `async def`: FastAPI runs a plain `def` dependency in a thread pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.notification_manager import NotificationManager
from app.core.security import InvalidToken, Principal, decode_token
from app.schemas.common import MAX_ID
from app.schemas.notification import NotificationFilter, Priority
from app.services.accounts import AccountService
from app.services.appointments import AppointmentService
from app.services.errors import InvalidRequest, NotAuthenticated
from app.services.notification_service import NotificationService

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.session_factory() as session:
        yield session


async def get_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    if not token:
        raise NotAuthenticated("not authenticated")
    try:
        return decode_token(token, secret=request.app.state.settings.secret_key)
    except InvalidToken as exc:
        raise NotAuthenticated("invalid or expired token") from exc


async def get_manager(request: Request) -> NotificationManager:
    return request.app.state.manager  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
# Who may open a stream: for now the same Authorization header as everywhere else.
StreamPrincipal = CurrentPrincipal
ManagerDep = Annotated[NotificationManager, Depends(get_manager)]


async def get_account_service(session: SessionDep) -> AccountService:
    return AccountService(session)


async def get_notification_service(request: Request, session: SessionDep) -> NotificationService:
    return NotificationService(session, request.app.state.publisher)


async def get_appointment_service(request: Request, session: SessionDep) -> AppointmentService:
    return AppointmentService(session, request.app.state.publisher)


AppointmentServiceDep = Annotated[AppointmentService, Depends(get_appointment_service)]
AccountServiceDep = Annotated[AccountService, Depends(get_account_service)]
NotificationServiceDep = Annotated[NotificationService, Depends(get_notification_service)]

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


async def get_filter(
    types: Annotated[
        str | None,
        Query(max_length=5000, description="Comma-separated notification types to keep"),
    ] = None,
    min_priority: Annotated[Priority, Query(description="Lowest priority to keep")] = "low",
) -> NotificationFilter:
    names = None if types is None else frozenset(t.strip() for t in types.split(",") if t.strip())
    try:
        return NotificationFilter(types=names or None, min_priority=min_priority)
    except ValidationError as exc:
        raise InvalidRequest(f"invalid filter: {exc.errors()[0]['msg']}") from exc


FilterDep = Annotated[NotificationFilter, Depends(get_filter)]
