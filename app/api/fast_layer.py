"""What the outer fast layers (app/api/fast_creates.py, app/api/fast_reads.py) share.

Each answers the happy path of a few routes ahead of FastAPI and hands every request it
isn't sure of to the app behind it, as it came, counting why (a metric per layer, so that a
test can tell which path answered). The heads they are sure of carry a bearer token and no
Origin: cookies and browsers (CORS) are the app's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from fastapi import FastAPI
from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api import credentials
from app.api.errors import failure_response
from app.core.metrics import Metrics
from app.runtime import Runtime, runtime_of

Headers = dict[bytes, bytes]


class FastLayer(ABC):
    """An outer ASGI layer: `app` answers what it declines; `fastapi` is the app whose
    routes it answers for (their paths, its runtime)."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self.fastapi = fastapi

    @abstractmethod
    def declines(self, metrics: Metrics) -> Counter:
        """This layer's declines, by reason."""

    def runtime(self) -> Runtime:
        return runtime_of(self.fastapi)

    async def _decline(self, reason: str, scope: Scope, receive: Receive, send: Send) -> None:
        self.declines(self.runtime().metrics).labels(reason).inc()
        await self.app(scope, receive, send)

    async def _fail(self, exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
        """The app's own answer to an exception no domain rule raised (503 for the pool's
        timeout; a bug or an outage's 500, then raised on for the server to log, as the
        app's error middleware does)."""
        response = failure_response(exc, scope, self.runtime())
        await response(scope, receive, send)
        if response.status_code == 500:
            raise exc


def bearer_of(headers: Headers) -> str | None:
    """The Authorization header's bearer token, read as the app's routes read it."""
    return credentials.bearer_token(headers.get(b"authorization", b"").decode("latin-1"))


def unsure_of_caller(headers: Headers) -> str | None:
    """Why a request is left to the app for who sent it, if it is: a browser's Origin (CORS
    is the app's middleware's)."""
    return "origin" if b"origin" in headers else None


_JSON = (b"content-type", b"application/json")


async def send_json(send: Send, status: int, content: bytes) -> None:
    """JSON as Starlette's Response(content, status, media_type="application/json") sends
    it, the same head, without building one (its header building was ~5 % of a POST)."""
    length = (b"content-length", str(len(content)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [length, _JSON]})
    await send({"type": "http.response.body", "body": content})
