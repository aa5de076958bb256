"""A request as it came (method, path, query, headers, body), read by one set of rules.

Every reader (app/api/readers.py) takes an `Incoming`, whoever calls it: the front door
(app/api/front_door.py), the protocol beneath uvicorn (app/server.py) or a FastAPI
dependency. The rules are Starlette's, so that a request reads the same wherever it is
read: the query with blank values kept and the last of a repeated name winning, a header
by its first value, the cookies of the first Cookie header.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import cookie_parser
from starlette.types import Scope

from app.core.config import Settings

RawHeaders = Sequence[tuple[bytes, bytes]]


@dataclass(slots=True)
class Incoming:
    method: str
    path: str
    query_string: bytes
    headers: RawHeaders  # as ASGI has them: lower-case names, in the order sent
    body: bytes = b""
    _query: dict[str, str] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, scope: Scope, body: bytes = b"") -> Incoming:
        """An HTTP or WebSocket scope's request (a WebSocket's opening is a GET)."""
        method = scope.get("method", "GET")
        return cls(method, scope["path"], scope.get("query_string", b""), scope["headers"], body)

    def query(self) -> dict[str, str]:
        """The query as Starlette reads it: blanks kept, the last of a repeated name wins."""
        if self._query is None:
            raw = self.query_string
            # parse_qsl costs microseconds even for nothing, and most requests send no query.
            pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True) if raw else ()
            self._query = dict(pairs)
        return self._query

    def header(self, name: bytes) -> str | None:
        """A header's first value (Starlette's `headers.get`); `name` in lower case."""
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None

    def header_values(self, name: bytes) -> list[str]:
        """Every value of a header, in the order sent."""
        return [value.decode("latin-1") for key, value in self.headers if key == name]

    def has_header(self, name: bytes) -> bool:
        return any(key == name for key, _ in self.headers)

    def cookie(self, name: str) -> str | None:
        header = self.header(b"cookie")
        return None if header is None else cookie_parser(header).get(name)

    def origin_allowed(self, settings: Settings) -> bool:
        """No Origin (a same-origin GET, or no browser), or this server's own, or one of
        CORS_ORIGINS named one by one (`*` lets pages in, never their cookies)."""
        origin = self.header(b"origin")
        if origin is None:
            return True
        return urlsplit(origin).netloc == (self.header(b"host") or "") or (
            origin in settings.cors_origins
        )
