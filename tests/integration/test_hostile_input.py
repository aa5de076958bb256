"""Hostile input: every endpoint answers garbage with a 4xx and a JSON `detail`, never a 5xx;
forged credentials never pass; nobody reads, counts or marks another's notifications.

Runs on both databases: PostgreSQL refuses text SQLite keeps (a NUL character, say), which
is where an unchecked value turns into a 500.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.utils import tokens
from tests.utils.factories import API, Account, Api, assert_json_error, connect
from tests.utils.server import ServerProcess
from tests.utils.sse import open_stream

NOTIFICATIONS = f"{API}/notifications"


@dataclass
class World:
    secret: str
    salon: int
    other_salon: int
    service: int
    admin: Account
    other_admin: Account
    customer: Account
    other_customer: Account
    superadmin: str
    appointment: int


@pytest.fixture(scope="module")
async def world(server: ServerProcess) -> AsyncIterator[World]:
    async with connect(server) as api:
        salon, other_salon = (await api.create_salon()).id, (await api.create_salon()).id
        admin = await api.create_admin(salon)
        customer = await api.register_customer()
        service = (await api.create_service(admin.token, salon)).id
        booked = await api.client.post(
            f"{API}/appointments",
            json={"salon_id": salon, "service_id": service, "start_time": "2099-01-01T10:00:00Z"},
            headers=customer.headers,
        )
        assert booked.status_code == 201, booked.text
        yield World(
            secret=server.secret_key,
            salon=salon,
            other_salon=other_salon,
            service=service,
            admin=admin,
            other_admin=await api.create_admin(other_salon),
            customer=customer,
            other_customer=await api.register_customer(),
            superadmin=api.superadmin_token,
            appointment=booked.json()["id"],
        )


# --------------------------------------------------------------------------- bodies

NUL, SURROGATE = "a\u0000b", '"a\\ud800b"'  # the surrogate as JSON text: Python can't encode it
LONG = "x" * 100_000


def raw_json(**fields: Any) -> bytes:
    """A JSON object; a value given as `RawJSON` is written as is (NaN, a lone surrogate)."""
    parts = []
    for key, value in fields.items():
        text = value.text if isinstance(value, RawJSON) else json.dumps(value)
        parts.append(f"{json.dumps(key)}: {text}")
    return ("{" + ", ".join(parts) + "}").encode()


@dataclass(frozen=True)
class RawJSON:
    text: str


def notification(**changes: Any) -> dict[str, Any]:
    return {
        "notification_type": "hostile",
        "title": "Title",
        "message": "Message",
        "recipient_type": "salon",
        **changes,
    }


# name -> (body, statuses allowed); each posted to /notifications as the salon's admin
NOTIFICATION_BODIES: dict[str, tuple[bytes, set[int]]] = {
    "malformed JSON": (b'{"notification_type": "x", ', {422}),
    "not an object": (b"[1, 2, 3]", {422}),
    "a bare string": (b'"hello"', {422}),
    "null": (b"null", {422}),
    "empty": (b"", {422}),
    "invalid UTF-8": (b'{"title": "\xff\xfe"}', {400, 422}),
    "title as a number": (raw_json(**notification(title=12)), {422}),
    "recipient_id as a string": (raw_json(**notification(recipient_id="1; DROP")), {422}),
    "recipient_id negative": (raw_json(**notification(recipient_id=-5)), {422}),
    "recipient_id past 64 bits": (raw_json(**notification(recipient_id=2**64)), {422}),
    "recipient_id a float": (raw_json(**notification(recipient_id=1.5)), {422}),
    "salon_id huge": (raw_json(**notification(salon_id=2**63 - 1)), {403, 422}),
    "unknown recipient_type": (raw_json(**notification(recipient_type="everyone")), {422}),
    "unknown priority": (raw_json(**notification(priority="critical")), {422}),
    "unknown field": (raw_json(**notification(admin=True)), {422}),
    "title too long": (raw_json(**notification(title=LONG)), {422}),
    "message too long": (raw_json(**notification(message=LONG)), {422}),
    "type too long": (raw_json(**notification(notification_type=LONG)), {422}),
    "NUL in title": (raw_json(**notification(title=NUL)), {422}),
    "NUL in type": (raw_json(**notification(notification_type=NUL)), {422}),
    "NUL in extra_data": (raw_json(**notification(extra_data={"k": NUL})), {422}),
    "lone surrogate in message": (raw_json(**notification(message=RawJSON(SURROGATE))), {422}),
    "lone surrogate in extra_data": (
        raw_json(**notification(extra_data=RawJSON('{"k": ' + SURROGATE + "}"))),
        {422},
    ),
    "NaN in extra_data": (raw_json(**notification(extra_data=RawJSON('{"k": NaN}'))), {422}),
    "Infinity in extra_data": (
        raw_json(**notification(extra_data=RawJSON('{"k": 1e999}'))),
        {422},
    ),
    "integer past 64 bits in extra_data": (
        raw_json(**notification(extra_data={"k": 2**70})),
        {422},
    ),
    "extra_data nested 1000 deep": (
        raw_json(**notification(extra_data=RawJSON('{"k": ' * 1000 + "1" + "}" * 1000))),
        {400, 422},
    ),
    "extra_data not an object": (raw_json(**notification(extra_data=[1, 2])), {422}),
}


@pytest.mark.parametrize("case", list(NOTIFICATION_BODIES))
async def test_a_hostile_notification_body_is_a_4xx_with_a_detail(
    api: Api, world: World, case: str
) -> None:
    body, allowed = NOTIFICATION_BODIES[case]
    response = await api.client.post(
        NOTIFICATIONS,
        content=body,
        headers={**world.admin.headers, "Content-Type": "application/json"},
    )
    assert_json_error(response, allowed)


async def test_json_sent_as_another_content_type_is_refused(api: Api, world: World) -> None:
    response = await api.client.post(
        NOTIFICATIONS,
        content=json.dumps(notification()).encode(),
        headers={**world.admin.headers, "Content-Type": "text/plain"},
    )
    assert_json_error(response, {415, 422})


@pytest.mark.parametrize(
    "text",
    [
        "Robert'); DROP TABLE notifications;--",
        "1 OR 1=1; SELECT * FROM users WHERE '' = ''",
        "Zürich · 東京 · مرحبا · 🎉👩‍👩‍👧 · e\u0301 · \u202eRTL",
        "<script>alert(1)</script>",
        "%s %d {0} ${jndi:ldap://x}",
    ],
)
async def test_sql_looking_and_unicode_text_is_stored_and_returned_exactly(
    api: Api, world: World, text: str
) -> None:
    created = await api.notify(
        world.admin.token,
        recipient_type="salon",
        notification_type="text-" + str(abs(hash(text)) % 1000),
        title=text[:200],
        message=text,
        extra_data={text: [text]},
    )
    assert (created.title, created.message, created.extra_data) == (text, text, {text: [text]})
    listed = {n["id"]: n for n in await api.notifications(world.admin.token, limit=20)}
    assert listed[created.id]["message"] == text


# name -> (method, path, role, body (JSON or form dict), statuses allowed)
OTHER_BODIES: dict[str, tuple[str, str, str, Any, set[int]]] = {
    "register: NUL in the name": (
        "POST",
        "/auth/register",
        "anonymous",
        {"email": "nul-name@example.com", "password": "password-1", "full_name": NUL},
        {422},
    ),
    "register: lone surrogate in the password": (
        "POST",
        "/auth/register",
        "anonymous",
        RawJSON('{"email": "s@example.com", "password": ' + SURROGATE + ', "full_name": "S"}'),
        {422},
    ),
    "register: lone surrogate in the email": (
        "POST",
        "/auth/register",
        "anonymous",
        RawJSON('{"email": "a\\ud800@example.com", "password": "password-1", "full_name": "S"}'),
        {422},
    ),
    "register: email 10k long": (
        "POST",
        "/auth/register",
        "anonymous",
        {"email": "a" * 10_000 + "@example.com", "password": "password-1", "full_name": "S"},
        {422},
    ),
    "register: password as a list": (
        "POST",
        "/auth/register",
        "anonymous",
        {"email": "list@example.com", "password": ["x"], "full_name": "S"},
        {422},
    ),
    "login: NUL in the email": (
        "POST",
        "/auth/login",
        "form",
        {"username": "a\u0000@example.com", "password": "x"},
        {401},
    ),
    "login: nothing": ("POST", "/auth/login", "form", {}, {422}),
    "session: NUL in the email": (
        "POST",
        "/auth/session",
        "form",
        {"username": NUL, "password": "x"},
        {401},
    ),
    "salon: NUL in the name": ("POST", "/salons", "superadmin", {"name": NUL}, {422}),
    "salon: name 100k long": ("POST", "/salons", "superadmin", {"name": LONG}, {422}),
    "service: NaN price": (
        "POST",
        "/salons/{salon}/services",
        "admin",
        RawJSON('{"name": "n", "duration_minutes": 10, "price": NaN}'),
        {422},
    ),
    "service: negative duration": (
        "POST",
        "/salons/{salon}/services",
        "admin",
        {"name": "n", "duration_minutes": -10, "price": 1},
        {422},
    ),
    "appointment: start at the end of time, west of UTC": (
        "POST",
        "/appointments",
        "customer",
        {
            "salon_id": "{salon}",
            "service_id": "{service}",
            "start_time": "9999-12-31T23:50:00-12:00",
        },
        {422},
    ),
    "appointment: start at year 1, east of UTC": (
        "POST",
        "/appointments",
        "customer",
        {
            "salon_id": "{salon}",
            "service_id": "{service}",
            "start_time": "0001-01-01T00:00:00+14:00",
        },
        {422},
    ),
    "appointment: start is not a date": (
        "POST",
        "/appointments",
        "customer",
        {"salon_id": "{salon}", "service_id": "{service}", "start_time": "tomorrow; DROP"},
        {422},
    ),
    "ack: an id past 64 bits": ("POST", "/notifications/ack", "admin", {"ids": [2**64]}, {422}),
    "ack: 10,000 ids": (
        "POST",
        "/notifications/ack",
        "admin",
        {"ids": list(range(1, 10_001))},
        {422},
    ),
    "batch: one item with a NUL": (
        "POST",
        "/notifications/batch",
        "admin",
        {"notifications": [notification(), notification(title=NUL)]},
        {422},
    ),
    "batch: 501 items": (
        "POST",
        "/notifications/batch",
        "admin",
        {"notifications": [notification()] * 501},
        {422},
    ),
}


def fill(value: Any, world: World) -> Any:
    if isinstance(value, str) and value in ("{salon}", "{service}"):
        return {"{salon}": world.salon, "{service}": world.service}[value]
    if isinstance(value, dict):
        return {k: fill(v, world) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", list(OTHER_BODIES))
async def test_hostile_bodies_on_every_other_writing_endpoint(
    api: Api, world: World, case: str
) -> None:
    method, path, role, body, allowed = OTHER_BODIES[case]
    headers = {
        "anonymous": {},
        "form": {},
        "superadmin": api.auth(world.superadmin),
        "admin": world.admin.headers,
        "customer": world.customer.headers,
    }[role]
    url = API + path.format(salon=world.salon)
    if role == "form":
        response = await api.client.request(method, url, data=body)
    else:
        content = body.text.encode() if isinstance(body, RawJSON) else json.dumps(fill(body, world))
        headers = {**headers, "Content-Type": "application/json"}
        response = await api.client.request(method, url, content=content, headers=headers)
    assert_json_error(response, allowed)


# --------------------------------------------------------------------------- paths and queries

QUERIES: list[tuple[str, str, dict[str, Any]]] = [
    ("admin", "/notifications", {"limit": -1}),
    ("admin", "/notifications", {"limit": 10**30}),
    ("admin", "/notifications", {"before_id": 2**63}),
    ("admin", "/notifications", {"before_id": "1 OR 1=1"}),
    ("admin", "/notifications", {"unread_only": "perhaps"}),
    ("admin", "/notifications", {"min_priority": "critical"}),
    ("admin", "/notifications", {"types": NUL}),
    ("admin", "/notifications", {"types": "x" * 3000}),
    ("admin", "/notifications", {"types": ",".join(f"t{n}" for n in range(60))}),
    ("customer", "/notifications", {"salon_id": 0}),
    ("admin", "/appointments", {"status": "done"}),
    ("admin", "/appointments", {"date": "9999-12-31"}),
    ("admin", "/appointments", {"date": "2024-02-30"}),
    ("customer", "/notifications/customer/stream", {"salon_id": -1}),
    ("customer", "/notifications/customer/stream", {"salon_id": 2**63}),
    ("customer", "/notifications/customer/stream", {"types": NUL}),
    ("customer", "/notifications/customer/stream", {"types": "x" * 3000}),
    ("customer", "/notifications/customer/stream", {"last_event_id": "9" * 5000}),
    ("customer", "/notifications/customer/stream", {"last_event_id": "-1"}),
    ("admin", "/notifications/stream", {"last_event_id": "\u0661\u0662\u0663"}),
    ("admin", "/notifications/stream", {"min_priority": "'; DROP TABLE x;--"}),
    ("nobody", "/notifications/stream", {"token": "x" * 3000}),
    ("nobody", "/notifications/customer/stream", {"token": "' OR 1=1 --"}),
]


@pytest.mark.parametrize(("role", "path", "params"), QUERIES)
async def test_hostile_query_parameters_are_a_4xx_with_a_detail(
    api: Api, world: World, role: str, path: str, params: dict[str, Any]
) -> None:
    headers = {"admin": world.admin.headers, "customer": world.customer.headers}.get(role, {})
    response = await api.client.get(API + path, params=params, headers=headers)
    assert_json_error(response)


@pytest.mark.parametrize("header", ["9" * 5000, "abc", "-3", "1e5", ""])
async def test_a_hostile_last_event_id_header_is_a_4xx(api: Api, world: World, header: str) -> None:
    async with open_stream(
        api.client, f"{NOTIFICATIONS}/stream", token=world.admin.token, last_event_id=header
    ) as stream:
        if header:
            assert 400 <= stream.status_code < 500 and "detail" in stream.json(), stream.text
        else:  # empty, as EventSource sends it before any id: a plain live stream
            assert (await stream.next_event()).event == "connected"


@pytest.mark.parametrize(
    "path",
    [
        "/notifications/{id}/read",
        "/appointments/{id}/confirm",
        "/appointments/{id}/cancel",
        "/salons/{id}/services",
        "/salons/{id}/admins",
    ],
)
@pytest.mark.parametrize(
    "bad_id", ["0", "-1", str(2**63), "1.5", "1e3", "\u0661", "%00", "' OR 1=1"]
)
async def test_hostile_path_ids_are_a_4xx_with_a_detail(
    api: Api, world: World, path: str, bad_id: str
) -> None:
    method = "GET" if path == "/salons/{id}/services" else "POST"
    response = await api.client.request(
        method, API + path.replace("{id}", bad_id), headers=world.admin.headers, json={}
    )
    assert_json_error(response)


# --------------------------------------------------------------------------- credentials


def forged(world: World, who: Account) -> dict[str, str]:
    now = int(time.time())
    claims = tokens.claims(who.id, who.role, who.salon_id)
    return {
        "expired": tokens.encode({**claims, "iat": now - 7200, "exp": now - 60}, world.secret),
        "tampered": tokens.tamper(world.other_customer.token, sub=str(who.id), role=who.role),
        "another key": tokens.encode(claims, "not-the-server-secret-" + world.secret[:4]),
        "alg none": tokens.alg_none(claims),
        "role claimed superadmin": tokens.tamper(who.token, role="superadmin"),
        "unknown role": tokens.encode({**claims, "role": "root"}, world.secret),
        "no expiry": tokens.encode({k: v for k, v in claims.items() if k != "exp"}, world.secret),
    }


async def test_forged_tokens_never_pass_any_endpoint(api: Api, world: World) -> None:
    """Every operation of the OpenAPI document that takes a credential, with every forgery:
    401 with a JSON detail and the Bearer challenge, whatever the method and body."""
    document = (await api.client.get("/openapi.json")).json()
    forgeries = forged(world, world.admin)
    problems = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if "security" not in operation:
                continue
            url = path.replace("{salon_id}", str(world.salon))
            url = url.replace("{notification_id}", "1").replace("{appointment_id}", "1")
            for name, token in forgeries.items():
                response = await api.client.request(
                    method.upper(), url, headers={"Authorization": f"Bearer {token}"}, json={}
                )
                ok = (
                    response.status_code == 401
                    and response.headers.get("content-type") == "application/json"
                    and "detail" in response.json()
                    and response.headers.get("www-authenticate", "").startswith("Bearer")
                )
                if not ok:
                    problems.append(f"{method.upper()} {path} with {name}: {response.status_code}")
    assert not problems, problems


# --------------------------------------------------------------------------- other principals


async def test_guessing_ids_reads_counts_and_marks_nothing_of_anyone_else(
    api: Api, world: World
) -> None:
    """An intruder tries every id around the victims' notifications: marking them read is a
    404 each time, acknowledging them touches none, and no list or count of the intruder's
    shows them; the victims' notifications are unchanged."""
    sent = [
        await api.notify(world.superadmin, recipient_type="salon", salon_id=world.salon),
        await api.notify(
            world.superadmin,
            recipient_type="user",
            salon_id=world.salon,
            recipient_id=world.admin.id,
        ),
        await api.notify(
            world.superadmin, recipient_type="customer", recipient_id=world.customer.id
        ),
    ]
    guesses = list(range(sent[0].id - 3, sent[-1].id + 4))
    victims = {"admin": world.admin, "customer": world.customer}
    before = {name: await api.notifications(v.token, limit=200) for name, v in victims.items()}
    counts = {name: await api.unread_count(v.token) for name, v in victims.items()}
    for intruder in (world.other_admin, world.other_customer):
        own = {n["id"] for n in await api.notifications(intruder.token, limit=200)}
        unread = await api.unread_count(intruder.token)
        for guess in guesses:
            if guess not in own:
                assert (await api.mark_read(intruder.token, guess)).status_code == 404
        acked = await api.client.post(
            f"{NOTIFICATIONS}/ack", json={"ids": guesses}, headers=intruder.headers
        )
        assert acked.status_code == 200 and acked.json() == {"updated": 0}, acked.text
        listed = await api.notifications(intruder.token, limit=200, before_id=sent[-1].id + 10)
        assert not {n["id"] for n in listed} & {n.id for n in sent}
        assert (await api.read_all(intruder.token)).status_code == 200
        assert await api.unread_count(intruder.token) == 0 <= unread
    after = {name: await api.notifications(v.token, limit=200) for name, v in victims.items()}
    assert after == before, "the victims' notifications changed"
    assert {name: await api.unread_count(v.token) for name, v in victims.items()} == counts


async def test_someone_elses_appointment_is_404(api: Api, world: World) -> None:
    for who, action in (
        (world.other_customer, "cancel"),
        (world.other_admin, "confirm"),
        (world.other_admin, "cancel"),
    ):
        response = await api.client.post(
            f"{API}/appointments/{world.appointment}/{action}", headers=who.headers
        )
        assert_json_error(response, {404})
