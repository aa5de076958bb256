"""Creating notifications without FastAPI's per-request machinery, as an outer ASGI layer.

Profiled under load, routing, dependency solving and the middleware cost a POST to
/notifications about as much as authenticating, validating, storing and publishing it
together. The happy path of the two create endpoints is therefore answered here, ahead
of the app, with the same credentials check, the same pydantic models, the same service
and the same error answers. A request it isn't sure of (no bearer token, not JSON, no
Content-Length or a body over the limit, a browser's Origin) goes on to the app as it
came; one whose token or body doesn't pass goes on with its body replayed, so that every
401 and 422 is FastAPI's own. Each decline is counted by reason
(`salon_fast_create_declines`).
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError
from starlette.types import Message, Receive, Scope, Send

from app.api import credentials
from app.api.errors import error_response
from app.api.fast_layer import FastLayer, bearer_of, send_json, unsure_of_caller
from app.core.metrics import Metrics
from app.runtime import runtime_of
from app.schemas.notification import NotificationBatchCreate, NotificationCreate
from app.services.errors import DomainError
from app.services.stored import batch_json


class FastCreates(FastLayer):
    """Wraps the app: answers POST /notifications and /notifications/batch when it can,
    and passes everything else, and every request it declines, to the app."""

    app: FastAPI  # directly in front of FastAPI: the app it declines to is the one it serves

    def __init__(self, app: FastAPI) -> None:
        super().__init__(app, app)
        # The routes' own paths, so a change of prefix can't leave this layer behind.
        self.paths: dict[str, type[BaseModel]] = {
            app.url_path_for("create_notification"): NotificationCreate,
            app.url_path_for("create_batch"): NotificationBatchCreate,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            model = self.paths.get(scope["path"])
            if model is not None:
                await self._create(model, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _create(
        self, model: type[BaseModel], scope: Scope, receive: Receive, send: Send
    ) -> None:
        runtime = runtime_of(self.app)
        headers = dict(scope["headers"])
        bearer = bearer_of(headers)
        if bearer is None:
            await self._decline("no_bearer", scope, receive, send)
            return
        decline = _unsure_of(headers, runtime.settings.max_request_body_bytes)
        if decline is not None:
            await self._decline(decline, scope, receive, send)
            return
        body = await _body(receive)
        if body is None:
            return  # the client left
        try:
            principal = credentials.from_bearer(bearer, runtime.settings, runtime.revocations)
            data = model.model_validate_json(body)
        except (DomainError, ValidationError):
            await self._decline("unsure", scope, _replaying(body, receive), send)
            return
        creator = runtime.creator
        try:
            if isinstance(data, NotificationBatchCreate):
                content = batch_json(await creator.create_batch(principal, data.notifications))
            else:
                assert isinstance(data, NotificationCreate)
                content = (await creator.create(principal, data)).public_json()
        except DomainError as exc:  # refused by policy or routing: nothing was stored
            await error_response(scope, exc, runtime.metrics)(scope, receive, send)
            return
        except Exception as exc:  # a database error, say
            await self._fail(exc, scope, receive, send)
            return
        await send_json(send, 201, content)

    def declines(self, metrics: Metrics) -> Counter:
        return metrics.fast_create_declines


async def _body(receive: Receive) -> bytes | None:
    """The request's body, or None if the client left before sending it all."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _unsure_of(headers: dict[bytes, bytes], max_bytes: int) -> str | None:
    """Why a request with a bearer token is left to the app as it came, if it is."""
    length = headers.get(b"content-length", b"")
    caller = unsure_of_caller(headers)
    if caller is not None:
        return caller
    if not headers.get(b"content-type", b"").startswith(b"application/json"):
        return "not_json"
    if not length.isdigit():
        return "no_length"
    if int(length) > max_bytes:
        return "too_large"  # the app's middleware answers the 413
    return None


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the body already read, then what the client sends next."""
    replayed = False

    async def again() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
