"""Domain exceptions -> HTTP, in one place; every refusal is logged with its reason.

A refusal's log line names the method, the path (never the query string, where a stream
token may travel) and the reason; a validation failure is summed up by field and message,
never by the value sent (it may be a password).
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope
from starlette.websockets import WebSocket

from app.api.validation_errors import bounded_errors, json_bytes
from app.core.config import Settings
from app.core.logging import log_event
from app.core.metrics import Metrics
from app.db.session import PoolTimeout
from app.runtime import Runtime, runtime_of
from app.services.errors import (
    BadRequest,
    Conflict,
    DomainError,
    InvalidRequest,
    LimitExceeded,
    NotAuthenticated,
    NotFound,
    Overloaded,
    PermissionDenied,
    Unavailable,
)
from app.services.limiter import BODY_SIZE

logger = logging.getLogger(__name__)


class HeadTooLarge(DomainError):
    """A request's line and headers past what the HTTP server reads (app/server.py)."""


STATUS: dict[type[DomainError], int] = {
    BadRequest: 400,
    NotAuthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidRequest: 422,
    LimitExceeded: 429,
    HeadTooLarge: 431,
    Unavailable: 503,
    Overloaded: 503,
}
MAX_REASON = 300


class ErrorPublic(BaseModel):
    """Every refusal: a message, or (422 from validation) the list of what failed."""

    detail: str | list[Any]


def _error(description: str, **headers: str) -> dict[str, Any]:
    # The schema inline (not `model`): FastAPI would file a model under the route's own
    # media type, text/event-stream for the streams, whose refusals are JSON too.
    schema = ErrorPublic.model_json_schema()
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        answer["headers"] = {
            name: {"description": text, "schema": {"type": "string"}, "required": True}
            for name, text in headers.items()
        }
    return answer


_RETRY_AFTER = {"Retry-After": "Seconds to wait before trying again"}
# Documented on every API operation (main.py includes the router with them), so clients
# and the OpenAPI document know every answer an endpoint may give.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("Malformed request (a body or header that can't be read)"),
    401: _error("No valid credential", **{"WWW-Authenticate": "The scheme to use: Bearer"}),
    403: _error("Not allowed for this principal"),
    404: _error("No such thing, or not the caller's"),
    409: _error("Already exists"),
    413: _error("Request body larger than MAX_REQUEST_BODY_BYTES"),
    422: _error("Invalid parameters or body, or a reference that doesn't fit"),
    429: _error("Past a limit", **_RETRY_AFTER),
    503: _error(
        "Too busy to take it now (password checks waiting, or no database connection"
        " free within DATABASE_POOL_TIMEOUT)",
        **_RETRY_AFTER,
    ),
}


class BodyTooLarge(StarletteHTTPException):
    """A request body past MAX_REQUEST_BODY_BYTES (raised while it is read; see middleware)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


def log_refusal(scope: Scope, status: int, reason: str, limit: str | None = None) -> None:
    method, path = scope.get("method", "WEBSOCKET"), scope.get("path", "")
    client = scope.get("client")
    log_event(
        logger,
        "request_refused",
        f"refused {method} {path}: {status} {reason[:MAX_REASON]}",
        logging.WARNING if status in (413, 429, 503) else logging.INFO,
        status=status,
        reason=reason[:MAX_REASON],
        method=method,
        path=path,
        client=client[0] if client else None,
        **({"limit": limit} if limit else {}),
    )


def refusal(
    scope: Scope,
    status: int,
    detail: str,
    metrics: Metrics,
    *,
    limit: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A refusal's JSON answer, logged (and counted, for a limit)."""
    note_refusal(scope, status, detail, metrics, limit)
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def note_refusal(
    scope: Scope, status: int, reason: str, metrics: Metrics, limit: str | None = None
) -> None:
    """Log a refusal; one by a limit is also counted in `salon_limit_refusals{limit=...}`."""
    if limit:
        metrics.refusals.labels(limit).inc()
    log_refusal(scope, status, reason, limit)


def response_bytes(response: Response) -> bytes:
    """A whole HTTP/1.1 response that closes its connection, for the code that answers
    below ASGI (the HTTP protocol's own refusals, a direct stream's)."""
    status = response.status_code
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
    lines += [name + b": " + value for name, value in response.raw_headers]
    return b"\r\n".join([*lines, b"connection: close", b"", response.body])


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def status_of(exc: DomainError) -> int:
    """The closest class's status: Overloaded is a LimitExceeded with a status of its own."""
    return next((STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS), 400)


def error_response(scope: Scope, exc: DomainError, metrics: Metrics) -> JSONResponse:
    """The answer to a domain error (also used where no exception handler runs), logged."""
    limit = exc.limit if isinstance(exc, LimitExceeded) else None
    note_refusal(scope, status_of(exc), exc.detail, metrics, limit)
    return refusal_answer(exc)


def refusal_answer(exc: DomainError) -> JSONResponse:
    """A domain error's JSON answer, from the status table (not logged)."""
    headers = None
    if isinstance(exc, LimitExceeded | Unavailable):
        headers = {"Retry-After": retry_after(exc.retry_after)}
    elif status_of(exc) == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse({"detail": exc.detail}, status_code=status_of(exc), headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return error_response(request.scope, exc, runtime_of(request.app).metrics)


async def _domain_error_anywhere(connection: Any, exc: Exception) -> JSONResponse | None:
    """`_domain_error`, and for a WebSocket refused before its handshake: accepted, then
    closed with its refusal code and the reason. (uvicorn logs an ERROR after a JSON denial
    answer: it never marks that handshake complete.)"""
    if not isinstance(connection, WebSocket):
        return await _domain_error(connection, exc)
    assert isinstance(exc, DomainError)
    log_refusal(connection.scope, status_of(exc), exc.detail)
    await connection.accept()
    await connection.close(code=ws_refusal_code(exc), reason=exc.detail[:120])
    return None


def summarize(errors: list[Any]) -> str:
    """`body.title: String should have at most 200 characters; ...` without the values."""
    parts = []
    for error in errors[:3]:
        location = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{location}: {error.get('msg', error.get('type', 'invalid'))}")
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_response(request.scope, exc)


def validation_response(scope: Scope, exc: RequestValidationError) -> JSONResponse:
    """A 422 as FastAPI writes it, its errors bounded, whoever answers."""
    errors = bounded_errors(exc.errors())
    log_refusal(scope, 422, summarize(errors))
    return EchoSafeJSONResponse({"detail": errors}, 422)


class EchoSafeJSONResponse(JSONResponse):
    """FastAPI's answer, written so that what it echoes (`input`) can't break it: a lone
    surrogate is escaped (the rest is UTF-8, as Starlette writes it: escaping every
    non-ASCII character would take up to three times the bytes the bounds allow)."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


async def _http_error(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc, BodyTooLarge):
        return refusal(
            request.scope, 413, str(exc.detail), runtime_of(request.app).metrics, limit=BODY_SIZE
        )
    log_refusal(request.scope, exc.status_code, str(exc.detail))
    return await http_exception_handler(request, exc)


def database_busy(settings: Settings) -> Unavailable:
    """What a request that waited DATABASE_POOL_TIMEOUT for a connection is told."""
    wait = settings.database_pool_timeout
    return Unavailable(f"no database connection came free within {wait:g} s", retry_after=wait)


def failure_response(exc: Exception, scope: Scope, runtime: Runtime) -> JSONResponse:
    """The answer to an exception no domain rule raised: 503 when it is the pool's timeout,
    else the 500 of a bug or an outage."""
    if isinstance(exc, PoolTimeout):
        return error_response(scope, database_busy(runtime.settings), runtime.metrics)
    return internal_error_response()


def internal_error_response() -> JSONResponse:
    """A bug or an outage: JSON like every other answer (uvicorn logs the traceback once)."""
    return JSONResponse({"detail": "internal server error"}, status_code=500)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return internal_error_response()


async def _pool_timeout(request: Request, exc: Exception) -> JSONResponse:
    return failure_response(exc, request.scope, runtime_of(request.app))


def answer_for(scope: Scope, exc: Exception, runtime: Runtime) -> JSONResponse:
    """The one error writer, for the paths where FastAPI's handlers don't run (the front
    door): a refusal as its status says, a validation error as FastAPI writes it, the pool's
    timeout a 503, anything else the JSON 500 (its traceback is the caller's to log)."""
    if isinstance(exc, DomainError):
        return error_response(scope, exc, runtime.metrics)
    if isinstance(exc, RequestValidationError):
        return validation_response(scope, exc)
    return failure_response(exc, scope, runtime)


# WebSocket close codes, all here: a refusal at admission is 4000 + the HTTP status the
# same request gets on the SSE route; after admission, the contract's codes by reason.
WS_NORMAL, WS_GOING_AWAY, WS_POLICY, WS_TRY_AGAIN = 1000, 1001, 1008, 1013
WS_RECONNECT, WS_CREDENTIAL_ENDED = 4000, 4001
WS_CLOSES: dict[str | None, int] = {
    None: WS_NORMAL,
    "client_gone": WS_NORMAL,
    "slow_consumer": WS_TRY_AGAIN,
    "shutdown": WS_GOING_AWAY,
    "revoked": WS_CREDENTIAL_ENDED,
    "expired": WS_RECONNECT,  # the stream's lifetime; its credential's: WS_CREDENTIAL_ENDED
}


def ws_refusal_code(exc: DomainError) -> int:
    return 4000 + status_of(exc)


def ws_close_code(reason: str | None, credential_ended: bool) -> int:
    if reason == "expired" and credential_ended:
        return WS_CREDENTIAL_ENDED
    return WS_CLOSES.get(reason, WS_NORMAL)


def install_error_handlers(app: FastAPI) -> None:
    # One handler for both kinds of connection; Starlette types it as one or the other.
    app.add_exception_handler(DomainError, _domain_error_anywhere)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PoolTimeout, _pool_timeout)
    app.add_exception_handler(Exception, _unexpected)
