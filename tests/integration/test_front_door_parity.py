"""The front door answers as FastAPI does, proven by generation: the same generated request
goes to a server with the front door and to one without (FRONT_DOOR=0, sharing its database
and secret), and both answers must be the same status and body, ids and times masked; a
created notification the same stored row; a stream the same first event.

Then the divergences issue 21 found, each by name: a blank `?salon_id=` or `?min_priority=`,
non-ASCII digits, two Authorization headers, `Content-Type: application/jsonx`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.utils.db import fresh_database_url
from tests.utils.factories import API, Api, connect
from tests.utils.server import ServerProcess, server_env

LIST, COUNT = f"{API}/notifications", f"{API}/notifications/unread-count"
NOTIFY, BATCH = f"{API}/notifications", f"{API}/notifications/batch"
ADMIN_STREAM, CUSTOMER_STREAM = (
    f"{API}/notifications/stream",
    f"{API}/notifications/customer/stream",
)
MASKED = {"id", "created_at", "server_time", "delivered_at"}
EXAMPLES = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@dataclass
class Pair:
    front: ServerProcess
    fastapi: ServerProcess
    database: Path
    tokens: dict[str, str]
    ids: dict[str, int]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two servers on one SQLite database and secret: the front door on, and off."""
    workdir = tmp_path_factory.mktemp("front-door-parity")
    url, drop = fresh_database_url("sqlite", workdir)
    env = server_env(
        url,
        LIMIT_STREAM_OPENS="0",  # every generated stream opens on both, whatever came before
        LIMIT_STREAMS_PER_PRINCIPAL="0",
        LIMIT_STREAMS_PER_SALON="0",
    )
    front = ServerProcess(env, workdir=workdir / "front")
    fastapi = ServerProcess({**env, "FRONT_DOOR": "0"}, workdir=workdir / "fastapi")
    try:
        front.start()
        fastapi.start()
        tokens, ids = _accounts(front)
        yield Pair(front, fastapi, Path(url.split("///", 1)[1]), tokens, ids)
    finally:
        try:
            fastapi.stop()
            front.stop()
        finally:
            drop()


def _accounts(server: ServerProcess) -> tuple[dict[str, str], dict[str, int]]:
    import asyncio

    async def make() -> tuple[dict[str, str], dict[str, int]]:
        async with connect(server) as api:
            salon = await api.create_salon()
            admin = await api.create_admin(salon.id)
            customer = await api.register_customer()
            stream = await api.client.post(
                f"{API}/notifications/stream-token", headers=Api.auth(customer.token)
            )
            await api.notify(admin.token, recipient_type="customer", recipient_id=customer.id)
            form = {"username": customer.email, "password": customer.password}
            signed_in = await api.client.post(f"{API}/auth/session", data=form)
            tokens = {
                "session": signed_in.cookies["salon_session"],
                "admin": admin.token,
                "customer": customer.token,
                "superadmin": api.superadmin_token,
                "stream": stream.json()["token"],
            }
            return tokens, {"salon": salon.id, "customer": customer.id, "admin": admin.id}

    return asyncio.run(make())


def mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<masked>" if k in MASKED else mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def answer(response: httpx.Response) -> tuple[int, str, Any]:
    body: Any = response.content
    if response.headers.get("content-type", "").startswith("application/json"):
        body = mask(response.json())
    return response.status_code, response.headers.get("content-type", ""), body


def both(pair: Pair, method: str, path: str, **request: Any) -> list[httpx.Response]:
    answers = []
    for server in (pair.front, pair.fastapi):
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            answers.append(client.request(method, path, **request))
    return answers


def stream_both(pair: Pair, path: str, **request: Any) -> list[tuple[int, str, Any]]:
    """Each server's status and head, and its first event (or its JSON refusal)."""
    seen = []
    for server in (pair.front, pair.fastapi):
        with (
            httpx.Client(base_url=server.base_url, timeout=10) as client,
            client.stream("GET", path, **request) as response,
        ):
            kind = response.headers.get("content-type", "")
            if response.status_code != 200:
                response.read()
                seen.append(answer(response))
                continue
            text = ""
            for chunk in response.iter_text():
                text += chunk
                if "\n\n" in text.split("event: connected", 1)[-1]:
                    break
            data = text.split("event: connected\ndata: ", 1)[1].split("\n", 1)[0]
            seen.append((200, kind, mask(json.loads(data))))
    return seen


# --------------------------------------------------------------------------- generation

PLAIN = ["", "1", "2", "50", "0", "-1", "12", "9" * 25, str(2**63), "true", "false", "yes"]
WORDS = ["high", "urgent", "critical", "promo,test", "1e3", "%", "a" * 60]
VALUES = st.sampled_from([*PLAIN, *WORDS, "١٢", " 5", "5 ", "é"])
HEADER_VALUES = st.sampled_from([*PLAIN, *WORDS])  # what a header can carry
NAMES = st.sampled_from(
    ["limit", "before_id", "salon_id", "unread_only", "types", "min_priority", "last_event_id", "x"]
)
pairs = st.lists(st.tuples(NAMES, VALUES), max_size=4)


@st.composite
def queries(draw: st.DrawFn, pair: Pair) -> str:
    """Query strings with blanks, repeats, non-ASCII digits, huge numbers, and `?token=`."""
    drawn = draw(pairs)
    if draw(st.booleans()):
        token = draw(st.sampled_from(["stream", "customer", "garbage"]))
        drawn.insert(draw(st.integers(0, len(drawn))), ("token", pair.tokens.get(token, "x")))
    return urlencode(drawn)


AUTH_NAMES = st.sampled_from(["Authorization", "authorization", "AUTHORIZATION"])


@st.composite
def credentials(draw: st.DrawFn, pair: Pair, stream: bool = False) -> list[tuple[str, str]]:
    kinds = ["admin", "customer", "superadmin", "stream", "garbage", "basic", "bearer-lower"]
    chosen = draw(st.lists(st.sampled_from(kinds), min_size=0, max_size=2))
    headers = []
    if draw(st.booleans()):  # the dashboard's session cookie, alone or beside a header
        headers.append(("Cookie", f"salon_session={pair.tokens['session']}"))
        if draw(st.booleans()):
            headers.append(("X-Requested-With", "test"))
    for kind in chosen:
        value = {
            "garbage": "Bearer not-a-token",
            "basic": "Basic dXNlcjpwYXNzd29yZA==",
            "bearer-lower": f"bearer {pair.tokens['customer']}",
        }.get(kind) or f"Bearer {pair.tokens[kind]}"
        headers.append((draw(AUTH_NAMES), value))
    if stream and draw(st.booleans()):
        headers.append(("Last-Event-ID", draw(HEADER_VALUES)))
    return headers


MEDIA = st.sampled_from(
    [
        "application/json",
        "application/jsonx",
        "application/problem+json",
        "text/plain",
        None,
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/json; charset=utf-16",
    ]
)


@st.composite
def bodies(draw: st.DrawFn, pair: Pair) -> bytes:
    good = {
        "notification_type": draw(st.sampled_from(["t", "", " promo "])),
        "title": draw(st.sampled_from(["T", "", "x" * 201])),
        "message": "M",
        "recipient_type": draw(st.sampled_from(["salon", "customer", "user", "nobody"])),
        "salon_id": draw(st.sampled_from([pair.ids["salon"], 10**6, None, "1", 0])),
        "recipient_id": draw(st.sampled_from([pair.ids["customer"], pair.ids["admin"], None])),
        "priority": draw(st.sampled_from(["high", "normal", "critical"])),
    }
    text = json.dumps({k: v for k, v in good.items() if v is not None or draw(st.booleans())})
    if draw(st.booleans()):  # a duplicate key, the second one wins (or not)
        text = text[:-1] + ', "priority": "low"}'
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"]))
    return text.encode(encoding, errors="replace")


@pytest.mark.timeout(120)
def test_generated_reads_get_the_same_answer_with_and_without_the_front_door(pair: Pair) -> None:
    @EXAMPLES
    @given(
        path=st.sampled_from([LIST, COUNT]),
        query=queries(pair),
        headers=credentials(pair),
    )
    def check(path: str, query: str, headers: list[tuple[str, str]]) -> None:
        front, fastapi = both(pair, "GET", f"{path}?{query}", headers=headers)
        assert answer(front) == answer(fastapi), (path, query, headers)

    check()


@pytest.mark.timeout(120)
def test_generated_creates_store_the_same_notification_with_and_without_it(pair: Pair) -> None:
    @EXAMPLES
    @given(
        path=st.sampled_from([NOTIFY, NOTIFY, BATCH]),
        body=bodies(pair),
        media=MEDIA,
        headers=credentials(pair),
    )
    def check(path: str, body: bytes, media: str | None, headers: list[tuple[str, str]]) -> None:
        if path == BATCH:
            body = b'{"notifications": [' + body + b"]}"
        sent = headers + ([("Content-Type", media)] if media else [])
        front, fastapi = both(pair, "POST", path, content=body, headers=sent)
        assert answer(front) == answer(fastapi), (path, body, sent)
        if front.status_code == 201:
            assert _stored(pair, front) == _stored(pair, fastapi)

    check()


@pytest.mark.timeout(120)
def test_generated_streams_open_alike_with_and_without_it(pair: Pair) -> None:
    @EXAMPLES
    @given(
        path=st.sampled_from([ADMIN_STREAM, CUSTOMER_STREAM]),
        query=queries(pair),
        headers=credentials(pair, stream=True),
    )
    def check(path: str, query: str, headers: list[tuple[str, str]]) -> None:
        front, fastapi = stream_both(pair, f"{path}?{query}", headers=headers)
        assert front == fastapi, (path, query, headers)

    check()


def _stored(pair: Pair, created: httpx.Response) -> list[tuple[Any, ...]]:
    """Who receives what was created: the stored rows, without their ids and times."""
    body = created.json()
    ids = [n["id"] for n in body.get("notifications", [body])]
    with sqlite3.connect(pair.database) as db:
        return db.execute(
            "SELECT notification_type, title, recipient_type, recipient_id, salon_id, priority,"
            f" extra_data FROM notifications WHERE id IN ({','.join('?' * len(ids))}) ORDER BY id",
            ids,
        ).fetchall()


# --------------------------------------------------------------------------- named cases


def test_a_blank_salon_id_or_min_priority_is_a_422_on_both_paths(pair: Pair) -> None:
    bearer = {"Authorization": f"Bearer {pair.tokens['customer']}"}
    for query in ("salon_id=", "min_priority="):
        opened = stream_both(pair, f"{CUSTOMER_STREAM}?{query}", headers=bearer)
        assert [status for status, _, _ in opened] == [422, 422], (query, opened)
        listed = both(pair, "GET", f"{LIST}?{query}", headers=bearer)
        assert [r.status_code for r in listed] == [422, 422], query


def test_non_ascii_digits_are_a_422_on_both_paths(pair: Pair) -> None:
    bearer = {"Authorization": f"Bearer {pair.tokens['customer']}"}
    opened = stream_both(pair, f"{CUSTOMER_STREAM}?salon_id=١٢", headers=bearer)
    assert [status for status, _, _ in opened] == [422, 422], opened
    listed = both(pair, "GET", f"{LIST}?limit=١٢", headers=bearer)
    assert [r.status_code for r in listed] == [422, 422]


def test_two_authorization_headers_are_a_400_on_both_paths(pair: Pair) -> None:
    """A customer's token, then an admin's: the fast layer took the last one and created the
    notification as the admin, where FastAPI took the first and refused."""
    headers = [
        ("Authorization", f"Bearer {pair.tokens['customer']}"),
        ("Authorization", f"Bearer {pair.tokens['admin']}"),
    ]
    body = {"notification_type": "t", "title": "T", "message": "M", "recipient_type": "salon"}
    body["salon_id"] = pair.ids["salon"]
    created = both(pair, "POST", NOTIFY, json=body, headers=headers)
    assert [r.status_code for r in created] == [400, 400], [r.text for r in created]
    assert created[0].json() == created[1].json()
    listed = both(pair, "GET", LIST, headers=headers)
    assert [r.status_code for r in listed] == [400, 400]
    opened = stream_both(pair, CUSTOMER_STREAM, headers=headers)
    assert [status for status, _, _ in opened] == [400, 400]


def test_a_content_type_that_is_not_json_is_a_422_on_both_paths(pair: Pair) -> None:
    body = {"notification_type": "t", "title": "T", "message": "M", "recipient_type": "salon"}
    body["salon_id"] = pair.ids["salon"]
    for media in ("application/jsonx", "text/plain", None):
        headers = {"Authorization": f"Bearer {pair.tokens['admin']}"}
        if media:
            headers["Content-Type"] = media
        created = both(pair, "POST", NOTIFY, content=json.dumps(body).encode(), headers=headers)
        assert [r.status_code for r in created] == [422, 422], (media, [r.text for r in created])
        assert answer(created[0]) == answer(created[1])
