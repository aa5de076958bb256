"""Reading GET /notifications/stream/stats, and waiting until it says what a test expects
(the figures follow connects and disconnects a moment later, and other instances' later
still)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from tests.utils.factories import API, Api

STATS = f"{API}/notifications/stream/stats"
Stats = dict[str, Any]


async def read_stats(api: Api) -> Stats:
    """The stats as the superadmin reads them."""
    response = await api.client.get(STATS, headers=api.auth(api.superadmin_token))
    assert response.status_code == 200, response.text
    body: Stats = response.json()
    return body


async def wait_for_stats(
    apis: Api | Sequence[Api],
    wanted: Stats | Callable[[Stats], bool],
    within: float,
    view: Callable[[Stats], Stats] = lambda stats: stats,
) -> Stats:
    """Poll every 0.05 s until every instance's stats, seen through `view`, equal `wanted`
    (or satisfy it); the first instance's, then. AssertionError after `within` seconds."""
    instances = [apis] if isinstance(apis, Api) else list(apis)
    fits = wanted if callable(wanted) else wanted.__eq__
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        answers = [view(await read_stats(api)) for api in instances]
        if all(fits(answer) for answer in answers):
            return answers[0]
        if loop.time() > deadline:
            got = {api.server.base_url: a for api, a in zip(instances, answers, strict=True)}
            raise AssertionError(f"stats after {within} s: {got}\nexpected: {wanted}")
        await asyncio.sleep(0.05)
