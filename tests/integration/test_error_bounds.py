"""Errors that never amplify: a 422 about a body of megabytes is at most 16 KiB, whichever
path answers it (FastAPI's route, or the front door), with at most 20
errors, each `input` the value when its JSON text fits in 256 bytes and that text cut with
`…` when it doesn't, each `loc` item and `msg` bounded (64 and 256 bytes)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.utils.factories import API, Api, assert_json_error

NOTIFICATIONS = f"{API}/notifications"
MAX_ANSWER = 16 * 1024
# Just under MAX_REQUEST_BODY_BYTES (4 MiB), non-ASCII: escaped as `\u00e9`, each
# character of it was six bytes of every copy of the body the answer echoed.
JUNK = "é" * 2_090_000


def _text(value: Any) -> bytes:
    """A value's JSON text, as FastAPI writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def assert_bounded(response: httpx.Response, sent: Any) -> list[dict[str, Any]]:
    """A 422 within the contract's bounds; each cut `input` is part of what was sent."""
    assert len(response.content) <= MAX_ANSWER, len(response.content)
    detail = assert_json_error(response, 422)["detail"]
    assert isinstance(detail, list) and 1 <= len(detail) <= 20, detail
    sent_text = _text(sent).decode()
    for error in detail:
        assert all(len(str(part).encode()) <= 64 for part in error["loc"]), error
        assert len(error["msg"].encode()) <= 256, error
        given = error.get("input")
        if isinstance(given, str) and given.endswith("…"):
            assert len(given.encode()) <= 256 and given[:-1] in sent_text, error
        else:
            assert len(_text(given)) <= 256, error
    return detail


async def _post(api: Api, path: str, body: Any, headers: dict[str, str]) -> list[httpx.Response]:
    """The same body with a Content-Length (the front door, for the notification routes)
    and chunked (FastAPI's route)."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = {**headers, "Content-Type": "application/json"}

    async def chunked() -> AsyncIterator[bytes]:
        yield raw

    return [
        await api.client.post(path, content=content, headers=headers)
        for content in (raw, chunked())
    ]


async def test_a_registration_of_megabytes_gets_a_small_422(api: Api) -> None:
    body = {"junk": JUNK}  # every field missing: each error is about the whole body
    for response in await _post(api, f"{API}/auth/register", body, {}):
        detail = assert_bounded(response, body)
        assert {tuple(e["loc"]) for e in detail} == {
            ("body", "email"),
            ("body", "password"),
            ("body", "full_name"),
        }
        assert all(e["input"].startswith('{"junk":"éé') for e in detail), detail


async def test_a_notification_of_megabytes_gets_a_small_422_on_every_path(api: Api) -> None:
    salon = (await api.create_salon()).id
    admin = await api.create_admin(salon)
    too_long = {"salon_id": salon, "title": JUNK, "message": "m", "recipient_type": "salon"}
    for body in ({"junk": JUNK}, too_long):
        for response in await _post(api, NOTIFICATIONS, body, admin.headers):
            assert_bounded(response, body)


async def test_a_batch_of_thousands_of_bad_items_gets_twenty_errors_at_most(api: Api) -> None:
    salon = (await api.create_salon()).id
    admin = await api.create_admin(salon)
    items = {"notifications": [{"title": "é" * 300}] * 500}
    # Names the schema forbids: each is an error, located by the name sent.
    names = {f"{n}{'é' * 30_000}": n for n in range(30)}
    for body in (items, names):
        for response in await _post(api, f"{NOTIFICATIONS}/batch", body, admin.headers):
            detail = assert_bounded(response, body)
            assert len(detail) == 20, len(detail)
    # The names, cut (the missing `notifications` comes among the first twenty or after them,
    # as pydantic orders its errors).
    assert sum(e["loc"][-1].endswith("…") for e in detail) >= 19, detail


async def test_a_read_with_huge_query_values_gets_a_small_422(api: Api) -> None:
    customer = await api.register_customer()
    query = {name: "é" * 2000 for name in ("limit", "before_id", "salon_id", "unread_only")}
    response = await api.client.get(NOTIFICATIONS, params=query, headers=customer.headers)
    detail = assert_bounded(response, query)
    assert {e["loc"][-1] for e in detail} == set(query), detail
