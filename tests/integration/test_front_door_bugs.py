"""A bug on any of the front door's paths is logged with its traceback and answered with the
app's JSON 500: never uvicorn's plain-text `400 Invalid HTTP request received.` (a bug raised
from the httptools callback that takes a stream), never a socket left unanswered and a task's
exception unretrieved (a bug early in a stream's spawned opening).

In process (one uvicorn server on this test's loop, our protocol beneath it), so that each
test can put a bug where it wants with monkeypatch."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api import parameters
from app.core.security import create_token
from app.streams.session import StreamSession
from tests.utils.factories import API
from tests.utils.in_process import in_process_server

SECRET = "test-secret-for-the-front-door-bugs-0123456789"
BUG = "a bug planted by the test"


@dataclass
class InProcess:
    base_url: str
    port: int


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[InProcess]:
    async with in_process_server(tmp_path, SECRET, broker_url="memory://") as port:
        yield InProcess(f"http://127.0.0.1:{port}", port)


def token(role: str = "customer", salon_id: int | None = None) -> str:
    return create_token(
        user_id=7, role=role, salon_id=salon_id, secret=SECRET, expires_in=timedelta(minutes=5)
    )


def raises(*_: Any, **__: Any) -> Any:
    raise RuntimeError(BUG)


async def raw(port: int, head: bytes) -> bytes:
    """The whole answer to one raw request (the server closes after a 500)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        async with asyncio.timeout(10):
            received = b""
            while chunk := await reader.read(65536):
                received += chunk
                if b"\r\n\r\n" in received and received.rstrip().endswith(b"}"):
                    break
        return received
    finally:
        writer.close()


def assert_json_500(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 "), answer[:300]
    assert b"content-type: application/json" in head.lower(), head
    assert json.loads(body) == {"detail": "internal server error"}


def assert_logged_with_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logged = [r for r in caplog.records if r.exc_info and BUG in str(r.exc_info[1])]
    assert logged, [r.getMessage() for r in caplog.records]
    assert logged[0].levelno >= logging.ERROR


@pytest.mark.parametrize(
    ("planted", "method", "body", "role"),
    [
        ("make_filter", "GET", None, "customer"),  # inside the list's reader
        ("json_body", "POST", {"title": "T"}, "admin"),  # inside the create's reader
    ],
)
async def test_a_bug_in_a_read_or_a_create_is_a_json_500_with_its_traceback(
    served: InProcess,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    planted: str,
    method: str,
    body: dict[str, str] | None,
    role: str,
) -> None:
    monkeypatch.setattr(parameters, planted, raises)
    bearer = {"Authorization": f"Bearer {token(role, 1 if role == 'admin' else None)}"}
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as client:
        answer = await client.request(method, f"{API}/notifications", json=body, headers=bearer)
    assert answer.status_code == 500 and answer.json() == {"detail": "internal server error"}
    assert answer.headers["content-type"] == "application/json"
    assert_logged_with_traceback(caplog)


STREAM_REQUEST = b"GET /api/v1/notifications/customer/stream HTTP/1.1\r\nHost: t\r\n"


@pytest.mark.parametrize("where", ["reading", "opening"])
async def test_a_bug_on_the_direct_stream_path_is_a_json_500_not_uvicorns_400(
    served: InProcess,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    where: str,
) -> None:
    """`reading`: raised inside the httptools callback that takes a stream on its socket;
    `opening`: in the spawned task that opens it, before it answered."""
    if where == "reading":
        monkeypatch.setattr(parameters, "parse_last_event_id", raises)
    else:
        monkeypatch.setattr(StreamSession, "open", raises_async)
    bearer = b"Authorization: Bearer " + token().encode() + b"\r\n\r\n"
    assert_json_500(await raw(served.port, STREAM_REQUEST + bearer))
    assert_logged_with_traceback(caplog)
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


async def raises_async(*_: Any, **__: Any) -> Any:
    raise RuntimeError(BUG)
