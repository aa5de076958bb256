"""Reading notifications without FastAPI's per-request machinery, as an outer ASGI layer.

Profiled, a GET of the list or of the unread count spent most of its time in dependency
solving, the middleware stack, ORM statement building and hydration, and response
serialization. The happy path of the two reads is therefore answered here, ahead of the
app, with the same credentials check, the same query rules, the same service and so the
same bytes (app/services/notification_reads.py). Anything else goes on to the app as it
came, so that every 4xx is FastAPI's own: no bearer token, an Origin (CORS), a body, a
query parameter unknown, repeated or not plainly valid, a token that doesn't pass, a
principal the service refuses. Each decline is counted by reason (`salon_fast_read_declines`).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import FastAPI
from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api import credentials
from app.api.fast_layer import FastLayer, Headers, bearer_of, send_json, unsure_of_caller
from app.api.stream_request import make_filter
from app.core.metrics import Metrics
from app.schemas.common import MAX_ID
from app.schemas.notification import ListOptions
from app.services.errors import DomainError
from app.services.notification_reads import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT

LIST_PARAMETERS = frozenset({"unread_only", "limit", "before_id", "salon_id"})
FILTER_PARAMETERS = frozenset({"types", "min_priority"})
# Only the plainest spellings: any other the app may read differently, so it answers them.
BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


class FastReads(FastLayer):
    """Wraps the app: answers GET /notifications and /notifications/unread-count when it
    can, and passes everything else, and every request it declines, to `app`."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        super().__init__(app, fastapi)
        # The routes' own paths, so a change of prefix can't leave this layer behind.
        self.list_path = fastapi.url_path_for("list_notifications")
        self.count_path = fastapi.url_path_for("unread_count")

    def declines(self, metrics: Metrics) -> Counter:
        return metrics.fast_read_declines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            if path == self.list_path or path == self.count_path:
                await self._read(path == self.list_path, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _read(self, listing: bool, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        bearer = bearer_of(headers)
        reason = _unsure_of(headers, bearer)
        options = list_options(scope) if listing and reason is None else None
        if reason is None and (options is None if listing else scope["query_string"]):
            reason = "query"  # the count takes none
        if reason is not None or bearer is None:
            await self._decline(reason or "no_bearer", scope, receive, send)
            return
        runtime = self.runtime()
        reads = runtime.reads
        try:
            principal = credentials.from_bearer(bearer, runtime.settings, runtime.revocations)
            content = await (
                reads.unread_json(principal)
                if options is None
                else reads.list_json(principal, options)
            )
        except DomainError:  # refused (401, 403): the app says how
            await self._decline("unsure", scope, receive, send)
            return
        except Exception as exc:
            await self._fail(exc, scope, receive, send)
            return
        await send_json(send, 200, content)


def _unsure_of(headers: Headers, bearer: str | None) -> str | None:
    """Why a read is left to the app as it came, for its head, if it is."""
    if bearer is None:
        return "no_bearer"  # a session cookie, or nothing: the app's to answer
    if b"content-length" in headers or b"transfer-encoding" in headers:
        return "body"  # the app's body limit is the one to judge it
    return unsure_of_caller(headers)


def list_options(scope: Scope) -> ListOptions | None:
    """The list's options, read as Starlette and the route read them (the last value of a
    name wins there: here a repeated name is declined); None for anything unsure."""
    pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    query = dict(pairs)
    if len(query) != len(pairs) or not query.keys() <= LIST_PARAMETERS | FILTER_PARAMETERS:
        return None
    try:
        return ListOptions(
            limit=_whole(query.get("limit", str(DEFAULT_LIST_LIMIT)), MAX_LIST_LIMIT),
            before_id=_optional_whole(query.get("before_id"), MAX_ID),
            unread_only=BOOLEANS[query.get("unread_only", "false")],
            salon_id=_optional_whole(query.get("salon_id"), MAX_ID),
            filter=make_filter(query.get("types"), query.get("min_priority", "low")),
        )
    except (KeyError, ValueError, DomainError):
        return None


def _whole(raw: str, most: int) -> int:
    """A whole number from 1 to `most` in its plain spelling (no sign, no leading zero)."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and raw[0] != "0"):
        raise ValueError(raw)
    if int(raw) > most:
        raise ValueError(raw)
    return int(raw)


def _optional_whole(raw: str | None, most: int) -> int | None:
    return None if raw is None else _whole(raw, most)
