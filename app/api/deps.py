"""Dependencies as Annotated aliases: runtime, settings, session, principal, services, streams.

All are `async def`: FastAPI runs a plain `def` dependency in a thread pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Request
from fastapi.requests import HTTPConnection
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.api import credentials
from app.api.incoming import Incoming
from app.core.config import Settings
from app.core.security import Principal
from app.runtime import Runtime, runtime_of
from app.schemas.common import MAX_ID
from app.services.accounts import AccountService
from app.services.appointments import AppointmentService
from app.services.errors import NotAuthenticated
from app.services.notification_reads import NotificationReads
from app.services.notification_service import NotificationCreator, NotificationService
from app.services.revocations import Revocations
from app.streams.shared import Streams

# Documents the bearer scheme in the OpenAPI document (its value is not used: the one
# credential rule is app/api/credentials.py `principal_of`).
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)
BearerDocumented = Annotated[str | None, Depends(oauth2_scheme)]
T = TypeVar("T")


async def get_runtime(connection: HTTPConnection) -> Runtime:
    return runtime_of(connection.app)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.session_factory() as session:
        yield session


async def get_principal(request: Request, runtime: RuntimeDep, _: BearerDocumented) -> Principal:
    """The Authorization header's access token, or the session cookie (the dashboard)."""
    incoming = Incoming.of(request.scope)
    principal = credentials.principal_of(incoming, runtime.settings, runtime.revocations)
    if principal is None:
        raise NotAuthenticated("not authenticated")
    return principal


def reading(reader: Callable[[Incoming, Runtime], T]) -> Any:
    """A route's reader (app/api/readers.py) as its dependency: the same function the front
    door calls, on the same request, body included."""

    async def read(request: Request, runtime: RuntimeDep, _: BearerDocumented) -> T:
        return reader(Incoming.of(request.scope, await request.body()), runtime)

    return Depends(read)


async def get_revocations(runtime: RuntimeDep) -> Revocations:
    return runtime.revocations


SettingsDep = Annotated[Settings, Depends(get_settings)]
RevocationsDep = Annotated[Revocations, Depends(get_revocations)]
# Closed when the endpoint returns, before the answer is sent: a session that read holds its
# connection (PostgreSQL: idle in transaction) until closed, and a client that doesn't read
# the answer would keep it from the pool for as long as it waits.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


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


async def get_streams(runtime: RuntimeDep) -> Streams:
    return runtime.streams


StreamsDep = Annotated[Streams, Depends(get_streams)]
