"""SalonAPI: FastAPI, with the stream and create endpoints answered ahead of its machinery.

Under uvicorn most stream requests never get here: the HTTP server hands them to a
DirectStream (app.api.direct_streams). Those that do (HTTP/1.0, or when the app is served
by another ASGI server) are opened here when they can be. Measured with py-spy on this
machine, about three quarters of the CPU an accepted stream cost went to FastAPI itself
(middleware, route matching, solving eight dependencies), not to checking the token or
registering the connection. A stream request with a bearer or a `?token=` credential is
therefore opened here, with the same functions the FastAPI route uses; anything else (a
cookie, a refusal, a malformed query, another path) goes on to FastAPI, so every answer
but the happy one is given in one place.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from starlette.types import Receive, Scope, Send

from app.api import credentials
from app.api.errors import _domain_error as domain_error_response
from app.api.fast_creates import CREATE_PATHS, answer_create
from app.api.streams import StreamOpener, StreamOptions, make_filter, parse_last_event_id
from app.core.connection import Kind
from app.core.security import Principal
from app.schemas.common import MAX_ID
from app.services.errors import DomainError

STREAM_PATHS: dict[str, Kind] = {
    "/api/v1/notifications/stream": "admin",
    "/api/v1/notifications/customer/stream": "customer",
}


class SalonAPI(FastAPI):
    """FastAPI, with the stream endpoints and the create endpoints answered first when
    they can be (see also app.api.fast_creates)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and getattr(self.state, "streams", None) is not None:
            method = scope["method"]
            if method == "GET" and scope["path"] in STREAM_PATHS:
                await self._answer_stream(scope, receive, send)
                return
            if method == "POST" and scope["path"] in CREATE_PATHS:
                scope["app"] = self  # as FastAPI sets it, for what the responses read
                await answer_create(self, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def answer_with_fastapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    async def _answer_stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        streams: StreamOpener = self.state.streams
        request = parse_stream_request(scope, STREAM_PATHS[scope["path"]], streams)
        if request is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self  # as FastAPI sets it, for what the response reads
        try:
            response: Response = streams.sse(*request)
        except DomainError as exc:  # a refusal by policy or a limit
            response = await domain_error_response(Request(scope), exc)
        await response(scope, receive, send)


def parse_stream_request(
    scope: Scope, kind: Kind, streams: StreamOpener
) -> tuple[Principal, Kind, StreamOptions, int | None] | None:
    """The stream request's principal and options, or None for FastAPI to look at."""
    try:
        query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
        headers = dict(scope["headers"])
        if b"origin" in headers:
            return None  # a browser on another origin: CORS is FastAPI's middleware's job
        bearer = credentials.bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        settings = streams.settings
        if bearer is not None:
            principal = credentials.from_bearer(
                bearer, settings, streams.revocations, stream_token_ok=True
            )
        elif "token" in query:
            principal = credentials.from_url_token(query["token"], settings, streams.revocations)
        else:
            return None
        last_event_id = headers.get(b"last-event-id")
        options = StreamOptions(
            make_filter(query.get("types"), query.get("min_priority", "low")),
            parse_last_event_id(
                last_event_id.decode("latin-1")
                if last_event_id is not None
                else query.get("last_event_id")
            ),
        )
        salon_filter = None
        if kind == "customer" and "salon_id" in query:
            salon_filter = int(query["salon_id"])
            if not 1 <= salon_filter <= MAX_ID:
                return None
    except Exception:
        return None  # FastAPI answers it, with the right status and detail
    return principal, kind, options, salon_filter
