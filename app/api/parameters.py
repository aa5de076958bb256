"""One parser per parameter, and its description in the OpenAPI document from the same
model: the query models, `Last-Event-ID`, the notification filter, and the media-type rule
of a JSON body. The readers (app/api/readers.py) call these, and only they.

Errors are located as FastAPI locates its own (`("query", name)`, `("body", ...)`) and raised
as its RequestValidationError, so that a 422 reads the same whoever answers it.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.api.incoming import Incoming
from app.api.validation_errors import bounded_errors
from app.core.connection import Kind
from app.schemas.common import MAX_ID
from app.schemas.notification import NotificationFilter, Priority
from app.services.errors import BadRequest, InvalidRequest
from app.services.notification_reads import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT

# Query values are bounded so that a URL carrying all of them, percent-encoded, stays well
# under what the HTTP server reads (64 KiB): past that it answers 431 itself.
MAX_TYPES_LENGTH = 2000
MAX_EVENT_ID_LENGTH = 19  # the digits of the largest id

M = TypeVar("M", bound=BaseModel)


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
    if not values:  # most requests: the defaults, validated once
        default = _DEFAULTS.get(model)
        if default is None:
            default = _DEFAULTS[model] = model.model_validate({})
        return cast(M, default)
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError(_located(exc, where)) from None


_DEFAULTS: dict[type[BaseModel], BaseModel] = {}


def _located(exc: ValidationError, where: str) -> list[Any]:
    errors = [{**e, "loc": (where, *e["loc"])} for e in exc.errors(include_url=False)]
    for error in errors:
        if error["type"] == "json_invalid":
            error["input"] = {}  # as FastAPI: the body is not echoed
        elif isinstance(given := error.get("input"), bytes):
            error["input"] = given.decode(errors="replace")
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
        # Bounded as every 422's errors are (a message may quote what was sent).
        message = bounded_errors(exc.errors())[0]["msg"]
        raise InvalidRequest(f"invalid filter: {message}") from exc


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
