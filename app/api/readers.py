"""The readers: one plain function per route the front door serves, from the request as it
came (`Incoming`) to a typed request, or a refusal (a DomainError, or a
RequestValidationError written as FastAPI writes its own).

The same function runs whoever answers: the front door (app/api/front_door.py), the
protocol beneath uvicorn for streams (app/server.py), the WebSocket's admission, and the
FastAPI route's dependency (app/api/deps.py `reading`). So one parser per parameter
(app/api/parameters.py: the models the OpenAPI document describes them from), one
credential rule (app/api/credentials.py `principal_of`), one media-type rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from fastapi.exceptions import RequestValidationError

from app.api import credentials, parameters
from app.api.incoming import Incoming
from app.api.parameters import CustomerStreamQuery
from app.core.connection import Kind
from app.core.security import Principal
from app.runtime import Runtime
from app.schemas.notification import (
    ListOptions,
    NotificationBatchCreate,
    NotificationCreate,
)
from app.services.errors import DomainError, NotAuthenticated
from app.streams.shared import StreamOptions, StreamRequest

# What a reader (or a handler) raises to refuse a request: answered, not a bug.
REFUSALS = (DomainError, RequestValidationError)

T = TypeVar("T")


class NoCredential(NotAuthenticated):
    """No credential at all (a WebSocket may still send one in its first message)."""

    def __init__(self) -> None:
        super().__init__("not authenticated")


@dataclass(frozen=True, slots=True)
class Asked(Generic[T]):
    """Who asks, and what for."""

    principal: Principal
    value: T


# --------------------------------------------------------------------------- the readers


def _principal(incoming: Incoming, runtime: Runtime, stream: bool = False) -> Principal:
    principal = credentials.principal_of(
        incoming, runtime.settings, runtime.revocations, stream=stream
    )
    if principal is None:
        raise NoCredential()
    return principal


def read_list(incoming: Incoming, runtime: Runtime) -> Asked[ListOptions]:
    principal = _principal(incoming, runtime)
    query = parameters.validated(parameters.ListQuery, incoming.query(), "query")
    options = ListOptions(
        query.limit,
        query.before_id,
        query.unread_only,
        query.salon_id,
        parameters.make_filter(query.types, query.min_priority),
    )
    return Asked(principal, options)


def read_count(incoming: Incoming, runtime: Runtime) -> Asked[None]:
    return Asked(_principal(incoming, runtime), None)


def read_create(incoming: Incoming, runtime: Runtime) -> Asked[NotificationCreate]:
    principal = _principal(incoming, runtime)  # who first: a 401 before a 422
    return Asked(principal, parameters.json_body(incoming, NotificationCreate))


def read_batch(incoming: Incoming, runtime: Runtime) -> Asked[NotificationBatchCreate]:
    principal = _principal(incoming, runtime)
    return Asked(principal, parameters.json_body(incoming, NotificationBatchCreate))


def read_stream(
    incoming: Incoming, kind: Kind, runtime: Runtime, token: str | None = None
) -> StreamRequest:
    """A stream (SSE or WebSocket): the credential (or `token`, a WebSocket's first
    message: an access or stream token), then the options."""
    if token is None:
        principal = _principal(incoming, runtime, stream=True)
    else:
        principal = credentials.from_bearer(
            token, runtime.settings, runtime.revocations, stream_token_ok=True
        )
    query = parameters.validated(parameters.STREAM_QUERIES[kind], incoming.query(), "query")
    header_id = incoming.header(b"last-event-id")  # the header's, else `?last_event_id=`
    last_event_id = header_id if header_id is not None else query.last_event_id
    options = StreamOptions(
        parameters.make_filter(query.types, query.min_priority),
        parameters.parse_last_event_id(last_event_id),
    )
    salon_id = query.salon_id if isinstance(query, CustomerStreamQuery) else None
    return StreamRequest(principal, kind, options, salon_id)


def read_admin_stream(incoming: Incoming, runtime: Runtime) -> StreamRequest:
    return read_stream(incoming, "admin", runtime)


def read_customer_stream(incoming: Incoming, runtime: Runtime) -> StreamRequest:
    return read_stream(incoming, "customer", runtime)
