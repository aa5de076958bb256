"""Creating notifications without FastAPI's per-request machinery.

Profiled under load, routing, dependency solving and the middleware cost a POST to
/notifications about as much as authenticating, validating, storing and publishing it
together. The happy path of the two create endpoints is therefore answered here, with the
same credentials check, the same pydantic models, the same service and the same error
answers for what the service refuses. A request it isn't sure of (no bearer token, not
JSON, no Content-Length or a body over the limit, a browser's Origin) goes to FastAPI as
it came; one whose token or body doesn't pass goes to FastAPI with its body replayed, so
that every 401 and 422 is FastAPI's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from app.api import credentials
from app.api.errors import error_response
from app.schemas.notification import NotificationBatchCreate, NotificationCreate
from app.services.errors import DomainError
from app.services.notification_service import NotificationCreator
from app.services.stored import batch_json

if TYPE_CHECKING:
    from app.api.fast_streams import SalonAPI

CREATE_PATHS: dict[str, type[BaseModel]] = {
    "/api/v1/notifications": NotificationCreate,
    "/api/v1/notifications/batch": NotificationBatchCreate,
}


async def answer_create(app: SalonAPI, scope: Scope, receive: Receive, send: Send) -> None:
    """POST /notifications or /notifications/batch, by the fast path when it can be."""
    model = CREATE_PATHS[scope["path"]]
    state = app.state
    headers = dict(scope["headers"])
    bearer = credentials.bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
    length = headers.get(b"content-length", b"")
    if (
        b"origin" in headers
        or bearer is None
        or not headers.get(b"content-type", b"").startswith(b"application/json")
        or not length.isdigit()
        or int(length) > state.settings.max_request_body_bytes
    ):
        await app.answer_with_fastapi(scope, receive, send)
        return
    try:
        body = await Request(scope, receive).body()
    except ClientDisconnect:
        return  # the client left
    try:
        principal = credentials.from_bearer(bearer, state.settings)
        data = model.model_validate_json(body)
    except (DomainError, ValidationError):
        await app.answer_with_fastapi(scope, _replaying(body, receive), send)
        return
    creator: NotificationCreator = state.creator
    response: Response
    try:
        if isinstance(data, NotificationBatchCreate):
            content = batch_json(await creator.create_batch(principal, data.notifications))
        else:
            assert isinstance(data, NotificationCreate)
            content = (await creator.create(principal, data)).public_json()
    except DomainError as exc:  # refused by policy or routing: nothing was stored
        response = error_response(scope, exc, state.metrics)
    else:
        response = Response(content, status_code=201, media_type="application/json")
    await response(scope, receive, send)


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
