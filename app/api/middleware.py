"""Request body size limit, as plain ASGI (BaseHTTPMiddleware would buffer the streams).

A declared Content-Length past the limit is refused before the app runs; a body without
one (chunked) is counted as the app reads it, and the read that crosses the limit raises
BodyTooLarge, which the exception handlers turn into the same 413.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import BodyTooLarge, refusal
from app.core.metrics import Metrics
from app.services.limiter import BODY_SIZE


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            detail = f"request body larger than {self.max_bytes} bytes"
            # The body is not read: close the connection rather than leave it unread on it.
            headers = {"Connection": "close"}
            response = refusal(scope, 413, detail, self.metrics, limit=BODY_SIZE, headers=headers)
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
