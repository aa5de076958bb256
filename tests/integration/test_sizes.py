"""Sizes a salon admin could use to grow the server: `extra_data` is bounded once serialized
(MAX_EXTRA_DATA_BYTES, default 16384), `title` to 200 and `message` to 5,000 characters,
on the single and the batch endpoint, by the front door and by FastAPI alike."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import orjson

from tests.utils.factories import API, Api

NOTIFY = f"{API}/notifications"
LIMIT = 16384


def _extra_data_of(size: int) -> dict[str, str]:
    """An object that serializes (compactly, as the server does) to exactly `size` bytes."""
    padding = size - len(orjson.dumps({"k": ""}))
    data = {"k": "x" * padding}
    assert len(orjson.dumps(data)) == size
    return data


async def _post_both_ways(api: Api, path: str, body: object, token: str) -> list[int]:
    """The status of the same body sent with a Content-Length (the front door) and chunked
    (FastAPI's route); each answer that is a 422 names the field it refuses."""
    raw = json.dumps(body).encode()
    headers = {**api.auth(token), "Content-Type": "application/json"}

    async def chunked() -> AsyncIterator[bytes]:
        yield raw

    statuses = []
    for content in (raw, chunked()):
        response = await api.client.post(path, content=content, headers=headers)
        if response.status_code == 422:
            assert (
                "extra_data" in response.text
                or "title" in response.text
                or ("message" in response.text)
            ), response.text
        statuses.append(response.status_code)
    return statuses


async def test_extra_data_is_bounded_once_serialized_on_every_create_path(api: Api) -> None:
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    base = {"notification_type": "t", "title": "T", "message": "M", "recipient_type": "salon"}
    at_limit = {**base, "salon_id": salon.id, "extra_data": _extra_data_of(LIMIT)}
    past_limit = {**base, "salon_id": salon.id, "extra_data": _extra_data_of(LIMIT + 1)}

    assert await _post_both_ways(api, NOTIFY, at_limit, admin.token) == [201, 201]
    assert await _post_both_ways(api, NOTIFY, past_limit, admin.token) == [422, 422]
    batch = {"notifications": [at_limit, past_limit]}
    assert await _post_both_ways(api, f"{NOTIFY}/batch", batch, admin.token) == [422, 422]
    # Nothing of the refused batch was stored: only the two notifications at the limit.
    listed = await api.notifications(admin.token, limit=10)
    assert len(listed) == 2


async def test_title_and_message_lengths_are_bounded(api: Api) -> None:
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    base = {"notification_type": "t", "recipient_type": "salon", "salon_id": salon.id}
    assert await _post_both_ways(
        api, NOTIFY, {**base, "title": "T" * 200, "message": "M" * 5000}, admin.token
    ) == [201, 201]
    for too_long in ({"title": "T" * 201, "message": "M"}, {"title": "T", "message": "M" * 5001}):
        assert await _post_both_ways(api, NOTIFY, {**base, **too_long}, admin.token) == [422, 422]
