"""A stream request's query and headers, read the same way by the route and the direct path."""

from __future__ import annotations

from urllib.parse import parse_qs

from pydantic import ValidationError
from starlette.types import Scope

from app.api import credentials
from app.api.validation_errors import bounded_errors
from app.core.config import Settings
from app.core.connection import Kind
from app.core.security import Principal
from app.schemas.common import MAX_ID
from app.schemas.notification import NotificationFilter
from app.services.errors import BadRequest, DomainError, InvalidRequest
from app.services.revocations import Revocations
from app.streams.shared import StreamOptions, StreamRequest

# Query values are bounded so that a URL carrying all of them, percent-encoded, stays well
# under what the HTTP server reads (64 KiB): past that it answers 400 itself, not as JSON.
MAX_TYPES_LENGTH = 2000
MAX_TOKEN_LENGTH = 2048
MAX_EVENT_ID_LENGTH = 64


def make_filter(types: str | None, min_priority: str = "low") -> NotificationFilter:
    """`?types=a,b&min_priority=high` as a filter; InvalidRequest when it can't be one."""
    if types is not None and len(types) > MAX_TYPES_LENGTH:
        raise InvalidRequest(f"invalid filter: types longer than {MAX_TYPES_LENGTH} characters")
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
    if len(value) > 19 or not value.isascii() or not value.isdigit() or int(value) > MAX_ID:
        raise BadRequest(f"Last-Event-ID must be a notification id, not {value[:40]!r}")
    return int(value)


def stream_options(
    filter: NotificationFilter, header_id: str | None, query_id: str | None
) -> StreamOptions:
    """The filter, and `Last-Event-ID`: the header's, else `?last_event_id=`."""
    raw = header_id if header_id is not None else query_id
    return StreamOptions(filter, parse_last_event_id(raw))


def stream_principal(
    bearer: str | None, url_token: str | None, settings: Settings, revocations: Revocations
) -> Principal | None:
    """The Authorization header's token (access or stream token), else `?token=` (stream
    tokens only); NotAuthenticated when the one given doesn't pass (or was revoked); None
    without either."""
    if bearer is not None:
        return credentials.from_bearer(bearer, settings, revocations, stream_token_ok=True)
    if url_token is not None:
        return credentials.from_url_token(url_token, settings, revocations)
    return None


def read_direct_request(
    scope: Scope, kind: Kind, settings: Settings, revocations: Revocations
) -> StreamRequest | None:
    """The request the direct path can open with no doubt: a bearer or `?token=` credential
    that checks out, no Origin (CORS is the app's), options that parse. None for anything
    else: the app answers it, with the right status and detail."""
    headers = dict(scope["headers"])
    if b"origin" in headers:
        return None
    try:
        raw_query = scope["query_string"].decode()
        # parse_qs costs 3.7 µs even for nothing, and most streams send no query.
        query = {k: v[-1] for k, v in parse_qs(raw_query).items()} if raw_query else {}
        bearer = credentials.bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        principal = stream_principal(bearer, query.get("token"), settings, revocations)
        if principal is None:
            return None  # the session cookie, or nothing: the route's to answer
        header_id = headers.get(b"last-event-id")
        options = stream_options(
            make_filter(query.get("types"), query.get("min_priority", "low")),
            None if header_id is None else header_id.decode("latin-1"),
            query.get("last_event_id"),
        )
        salon_filter = None
        if kind == "customer" and "salon_id" in query:
            salon_filter = int(query["salon_id"])
            if not 1 <= salon_filter <= MAX_ID:
                return None
    except (DomainError, ValueError):  # a refusal, or a query that doesn't parse
        return None
    return StreamRequest(principal, kind, options, salon_filter)
