"""The readers: one plain function per route the front door serves, from the request as it
came (`Incoming`) to a typed request, or a refusal (a DomainError, or a
RequestValidationError written as FastAPI writes its own).

The same function runs whoever answers: the front door (app/api/front_door.py), the
protocol beneath uvicorn for streams (app/server.py), the WebSocket's admission, and the
FastAPI route's dependency (app/api/deps.py `reading`). So one parser per parameter (the
query models below, documented in the OpenAPI document from the same models), one
credential rule (app/api/credentials.py `principal_of`), one media-type rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.api import credentials
from app.api.incoming import Incoming
from app.core.connection import Kind
from app.core.security import Principal
from app.runtime import Runtime
from app.schemas.common import MAX_ID
from app.schemas.notification import (
    ListOptions,
    NotificationBatchCreate,
    NotificationCreate,
    NotificationFilter,
    Priority,
)
from app.services.errors import BadRequest, DomainError, InvalidRequest, NotAuthenticated
from app.services.notification_reads import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT
from app.streams.shared import StreamOptions, StreamRequest

# Query values are bounded so that a URL carrying all of them, percent-encoded, stays well
# under what the HTTP server reads (64 KiB): past that it answers 431 itself.
MAX_TYPES_LENGTH = 2000
MAX_EVENT_ID_LENGTH = 19  # the digits of the largest id

# What a reader (or a handler) raises to refuse a request: answered, not a bug.
REFUSALS = (DomainError, RequestValidationError)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class NoCredential(NotAuthenticated):
    """No credential at all (a WebSocket may still send one in its first message)."""

    def __init__(self) -> None:
        super().__init__("not authenticated")


@dataclass(frozen=True, slots=True)
class Asked(Generic[T]):
    """Who asks, and what for."""

    principal: Principal
    value: T


# --------------------------------------------------------------------------- parameters


class FilterQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    types: str | None = Field(
        None, max_length=MAX_TYPES_LENGTH, description="Comma-separated notification types to keep"
    )
    min_priority: Priority = Field("low", description="Lowest priority to keep")


class ListQuery(FilterQuery):
    unread_only: bool = False
    limit: int = Field(DEFAULT_LIST_LIMIT, ge=1, le=MAX_LIST_LIMIT)
    before_id: int | None = Field(None, ge=1, le=MAX_ID)
    salon_id: int | None = Field(None, ge=1, le=MAX_ID)


class StreamQuery(FilterQuery):
    token: str | None = Field(
        None, description="A stream token (POST /notifications/stream-token), for EventSource"
    )
    last_event_id: str | None = Field(
        None, description="Same as the Last-Event-ID header, for clients without it"
    )


class CustomerStreamQuery(StreamQuery):
    salon_id: int | None = Field(None, ge=1, le=MAX_ID, description="Only this salon's")


STREAM_QUERIES: dict[Kind, type[StreamQuery]] = {
    "admin": StreamQuery,
    "customer": CustomerStreamQuery,
}
LAST_EVENT_ID_HEADER: dict[str, Any] = {
    "name": "Last-Event-ID",
    "in": "header",
    "required": False,
    "description": "Resume after this notification id",
    "schema": {"type": "string"},
}
_DEFAULT_FILTER = NotificationFilter()


def validated(model: type[M], values: dict[str, Any], where: str) -> M:
    """`values` as `model`; a RequestValidationError located as FastAPI locates its own."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError(_located(exc, where)) from None


def _located(exc: ValidationError, where: str) -> list[Any]:
    errors = [{**e, "loc": (where, *e["loc"])} for e in exc.errors(include_url=False)]
    for error in errors:
        if error["type"] == "json_invalid":
            error["input"] = {}  # as FastAPI: the body is not echoed
    return errors


def make_filter(types: str | None, min_priority: Priority = "low") -> NotificationFilter:
    """`?types=a,b&min_priority=high` as a filter; InvalidRequest when it can't be one."""
    if types is None and min_priority == "low":
        return _DEFAULT_FILTER
    names = None if types is None else frozenset(t.strip() for t in types.split(",") if t.strip())
    try:
        return NotificationFilter.model_validate(
            {"types": names or None, "min_priority": min_priority}
        )
    except ValidationError as exc:
        raise InvalidRequest(f"invalid filter: {exc.errors()[0]['msg']}") from exc


def parse_last_event_id(raw: str | None) -> int | None:
    """A notification id, or None when absent or empty (as EventSource sends it at first)."""
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    # The length first: int() of thousands of digits is slow, and refused past 4300.
    if (
        len(value) > MAX_EVENT_ID_LENGTH
        or not value.isascii()
        or not value.isdigit()
        or int(value) > MAX_ID
    ):
        raise BadRequest(f"Last-Event-ID must be a notification id, not {value[:40]!r}")
    return int(value)


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The model's fields as OpenAPI query parameters (for `openapi_extra`)."""
    properties = model.model_json_schema()["properties"]
    return [
        {
            "name": name,
            "in": "query",
            "required": field.is_required(),
            **({"description": field.description} if field.description else {}),
            "schema": {k: v for k, v in properties[name].items() if k != "description"},
        }
        for name, field in model.model_fields.items()
    ]


BODY_MODELS: list[type[BaseModel]] = []  # documented by request_body: see document_bodies
_COMPONENT = "#/components/schemas/{model}"


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """The model as a JSON request body (for `openapi_extra`), read by `json_body`."""
    BODY_MODELS.append(model)
    schema = {"$ref": _COMPONENT.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def document_bodies(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the schemas of the bodies `request_body` refers to."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in BODY_MODELS:
        schema = model.model_json_schema(ref_template=_COMPONENT)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return document


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
    query = validated(ListQuery, incoming.query(), "query")
    options = ListOptions(
        query.limit,
        query.before_id,
        query.unread_only,
        query.salon_id,
        make_filter(query.types, query.min_priority),
    )
    return Asked(principal, options)


def read_count(incoming: Incoming, runtime: Runtime) -> Asked[None]:
    return Asked(_principal(incoming, runtime), None)


def json_body(incoming: Incoming, model: type[M]) -> M:
    """The one media-type rule: `application/json` or `…+json`, UTF-8; anything else a 422."""
    media = incoming.header(b"content-type")
    kind = "" if media is None else media.partition(";")[0].strip().lower()
    if kind != "application/json" and not (
        kind.startswith("application/") and kind.endswith("+json")
    ):
        error = "Content-Type must be application/json or a +json type"
        loc = ("header", "content-type")
        raise RequestValidationError(
            [{"type": "content_type", "loc": loc, "msg": error, "input": media}]
        )
    if not incoming.body:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        return model.model_validate_json(incoming.body)
    except ValidationError as exc:
        raise RequestValidationError(_located(exc, "body")) from None


def read_create(incoming: Incoming, runtime: Runtime) -> Asked[NotificationCreate]:
    return Asked(_principal(incoming, runtime), json_body(incoming, NotificationCreate))


def read_batch(incoming: Incoming, runtime: Runtime) -> Asked[NotificationBatchCreate]:
    return Asked(_principal(incoming, runtime), json_body(incoming, NotificationBatchCreate))


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
    query = validated(STREAM_QUERIES[kind], incoming.query(), "query")
    header_id = incoming.header(b"last-event-id")
    options = StreamOptions(
        make_filter(query.types, query.min_priority),
        parse_last_event_id(header_id if header_id is not None else query.last_event_id),
    )
    salon_id = query.salon_id if isinstance(query, CustomerStreamQuery) else None
    return StreamRequest(principal, kind, options, salon_id)


def read_admin_stream(incoming: Incoming, runtime: Runtime) -> StreamRequest:
    return read_stream(incoming, "admin", runtime)


def read_customer_stream(incoming: Incoming, runtime: Runtime) -> StreamRequest:
    return read_stream(incoming, "customer", runtime)
