"""Dependencies as Annotated aliases: runtime, settings, session, principal, services, streams.

All are `async def`: FastAPI runs a plain `def` dependency in a thread pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from fastapi.requests import HTTPConnection
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.api import credentials
from app.api.stream_request import (
    MAX_EVENT_ID_LENGTH,
    MAX_TOKEN_LENGTH,
    MAX_TYPES_LENGTH,
    make_filter,
    stream_options,
    stream_principal,
)
from app.core.config import Settings
from app.core.security import Principal
from app.runtime import Runtime, runtime_of
from app.schemas.common import MAX_ID
from app.schemas.notification import NotificationFilter, Priority
from app.services.accounts import AccountService
from app.services.appointments import AppointmentService
from app.services.errors import NotAuthenticated
from app.services.notification_reads import NotificationReads
from app.services.notification_service import NotificationCreator, NotificationService
from app.services.revocations import Revocations
from app.streams.shared import StreamOptions, Streams

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)


async def get_runtime(connection: HTTPConnection) -> Runtime:
    return runtime_of(connection.app)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.session_factory() as session:
        yield session


async def get_principal(
    request: Request,
    runtime: RuntimeDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    """An access token in the Authorization header or, from the dashboard, the session cookie."""
    settings, revocations = runtime.settings, runtime.revocations
    if token:
        return credentials.from_bearer(token, settings, revocations)
    principal = credentials.from_session_cookie(request, settings, revocations)
    if principal is None:
        raise NotAuthenticated("not authenticated")
    return principal


async def get_stream_principal(
    request: Request,
    runtime: RuntimeDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    token: Annotated[
        str | None,
        Query(
            max_length=MAX_TOKEN_LENGTH,
            description="A stream token (POST /notifications/stream-token), for EventSource",
        ),
    ] = None,
) -> Principal:
    """Who opens a stream: the Authorization header (access or stream token), `?token=`
    (stream tokens only), or the session cookie."""
    settings, revocations = runtime.settings, runtime.revocations
    principal = stream_principal(bearer or None, token, settings, revocations)
    if principal is not None:
        return principal
    principal = credentials.from_session_cookie(request, settings, revocations)
    if principal is None:
        raise NotAuthenticated("not authenticated")
    return principal


async def get_revocations(runtime: RuntimeDep) -> Revocations:
    return runtime.revocations


SettingsDep = Annotated[Settings, Depends(get_settings)]
RevocationsDep = Annotated[Revocations, Depends(get_revocations)]
# Closed when the endpoint returns, before the answer is sent: a session that read holds its
# connection (PostgreSQL: idle in transaction) until closed, and a client that doesn't read
# the answer would keep it from the pool for as long as it waits.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
StreamPrincipal = Annotated[Principal, Depends(get_stream_principal)]


async def get_account_service(runtime: RuntimeDep, session: SessionDep) -> AccountService:
    return AccountService(session, runtime.limiter)


async def get_notification_service(session: SessionDep) -> NotificationService:
    return NotificationService(session)


async def get_notification_reads(runtime: RuntimeDep) -> NotificationReads:
    """The list and the unread count: no session of the request's (none is opened for them)."""
    return runtime.reads


async def get_notification_creator(runtime: RuntimeDep) -> NotificationCreator:
    """The create endpoints' service: no session of the request's (none is opened for them)."""
    return runtime.creator


async def get_appointment_service(runtime: RuntimeDep, session: SessionDep) -> AppointmentService:
    return AppointmentService(session, runtime.creator)


AppointmentServiceDep = Annotated[AppointmentService, Depends(get_appointment_service)]
AccountServiceDep = Annotated[AccountService, Depends(get_account_service)]
NotificationServiceDep = Annotated[NotificationService, Depends(get_notification_service)]
NotificationReadsDep = Annotated[NotificationReads, Depends(get_notification_reads)]
NotificationCreatorDep = Annotated[NotificationCreator, Depends(get_notification_creator)]

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


async def get_filter(
    types: Annotated[
        str | None,
        Query(
            max_length=MAX_TYPES_LENGTH, description="Comma-separated notification types to keep"
        ),
    ] = None,
    min_priority: Annotated[Priority, Query(description="Lowest priority to keep")] = "low",
) -> NotificationFilter:
    return make_filter(types, min_priority)


FilterDep = Annotated[NotificationFilter, Depends(get_filter)]


async def get_stream_options(
    filter: FilterDep,
    last_event_id_header: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=MAX_EVENT_ID_LENGTH,
            description="Resume after this notification id",
        ),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Query(
            max_length=MAX_EVENT_ID_LENGTH,
            description="Same as the Last-Event-ID header, for clients without it",
        ),
    ] = None,
) -> StreamOptions:
    return stream_options(filter, last_event_id_header, last_event_id)


async def get_streams(runtime: RuntimeDep) -> Streams:
    return runtime.streams


StreamOptionsDep = Annotated[StreamOptions, Depends(get_stream_options)]
StreamsDep = Annotated[Streams, Depends(get_streams)]
