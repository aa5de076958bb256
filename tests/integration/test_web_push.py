"""Web Push against a real push service on loopback (tests/utils/push_service.py): it
checks the VAPID JWT and decrypts every body with the subscription's own private key.

The server here allows loopback endpoints (PUSH_ALLOW_PRIVATE_ENDPOINTS=1, as the setting
is meant for); the session server, without it, shows the SSRF rule refusing them.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.utils.cluster import instance_env
from tests.utils.factories import API, Account, Api, connect, expect
from tests.utils.push_service import (
    BrowserSubscription,
    LoopbackPushService,
    b64url,
    loopback_push_service,
    unb64url,
)
from tests.utils.server import ServerProcess, fresh_server
from tests.utils.sse import open_stream

PUSH_DELAY = 1.0
PUSH_SETTINGS = {
    "PUSH_ALLOW_PRIVATE_ENDPOINTS": "1",
    "PUSH_DELAY_SECONDS": str(PUSH_DELAY),
    "PUSH_POLL_INTERVAL": "0.1",
    "PUSH_ATTEMPT_TIMEOUT": "3",
    "PUSH_TTL_SECONDS": "600",
    # Each test has salons of its own; only the batch test sends more than this per salon.
    "LIMIT_PUSHES_PER_SALON": "5",
    "LIMIT_PUSHES_WINDOW": "2",
}
CUSTOMER_STREAM = f"{API}/notifications/customer/stream"
ADMIN_STREAM = f"{API}/notifications/stream"


@pytest.fixture(scope="module")
def push_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with fresh_server(backend, tmp_path_factory.mktemp(f"push-{backend}"), **PUSH_SETTINGS) as srv:
        yield srv


@pytest.fixture
async def push_api(push_server: ServerProcess) -> AsyncIterator[Api]:
    async with connect(push_server) as api:
        yield api


@pytest.fixture
async def service(push_api: Api) -> AsyncIterator[LoopbackPushService]:
    key = expect(await push_api.client.get(f"{API}/push/vapid-public-key"), 200).json()
    async with loopback_push_service(key["public_key"]) as push_service:
        yield push_service
    assert push_service.errors == []


async def subscribe(api: Api, account: Account, browser: BrowserSubscription) -> int:
    response = await api.client.post(
        f"{API}/push/subscriptions", json=browser.to_json(), headers=account.headers
    )
    return int(expect(response, 201).json()["id"])


async def world(api: Api) -> tuple[dict[str, object], Account, Account]:
    salon = await api.create_salon()
    admin = await api.create_admin(salon.id)
    customer = await api.register_customer()
    return salon, admin, customer


async def subscribed_customer(
    api: Api, service: LoopbackPushService
) -> tuple[dict[str, object], Account, Account, BrowserSubscription]:
    """A salon, its admin, and a customer with one browser subscribed to `service`."""
    salon, admin, customer = await world(api)
    browser = service.new_subscription()
    await subscribe(api, customer, browser)
    return salon, admin, customer, browser


async def notify_customer(api: Api, admin: Account, customer: Account, **body: object) -> dict:
    return await api.notify(
        admin.token,
        recipient_type="customer",
        recipient_id=customer.id,
        salon_id=admin.salon_id,
        **body,
    )


async def test_vapid_key_is_a_p256_point_and_stays_the_same_across_a_restart(
    push_api: Api, push_server: ServerProcess
) -> None:
    first = expect(await push_api.client.get(f"{API}/push/vapid-public-key"), 200).json()
    point = unb64url(first["public_key"])
    assert len(point) == 65 and point[0] == 4
    key_file = Path(push_server.workdir) / ".salon-vapid"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert "generated one" in push_server.log_text()


async def test_customer_without_a_stream_gets_one_push_with_the_payload(
    push_api: Api, service: LoopbackPushService
) -> None:
    salon, admin, customer, browser = await subscribed_customer(push_api, service)
    created_at = time.monotonic()
    note = await notify_customer(push_api, admin, customer, title="Confirmed", priority="high")

    [push] = await service.wait_for(browser)
    # The streams had their chance (3/4 of the delay), and it came within the delay (with
    # room for a loaded machine).
    assert PUSH_DELAY * 0.7 <= push.received_at - created_at < PUSH_DELAY + 1.0
    assert push.payload == {
        "id": note["id"],
        "notification_type": note["notification_type"],
        "title": "Confirmed",
        "message": note["message"],
        "salon_id": salon["id"],
        "priority": "high",
        "url": push.payload["url"],
    }
    assert push.payload["url"].startswith("/?notification=")
    assert f"salon={salon['name']}".replace(" ", "+") in push.payload["url"]
    assert push.headers["ttl"] == PUSH_SETTINGS["PUSH_TTL_SECONDS"]
    assert push.headers["urgency"] == "high"
    assert push.claims["sub"] == "mailto:admin@localhost"
    await asyncio.sleep(PUSH_DELAY)
    assert len(service.pushes_to(browser)) == 1  # once


async def test_a_long_message_is_cut_to_fit_and_low_priority_says_low(
    push_api: Api, service: LoopbackPushService
) -> None:
    _, admin, customer, browser = await subscribed_customer(push_api, service)
    await notify_customer(push_api, admin, customer, message="é" * 5000, priority="low")
    [push] = await service.wait_for(browser)
    assert push.headers["urgency"] == "low"
    message = push.payload["message"]
    assert message.endswith("…") and set(message[:-1]) == {"é"} and len(message) > 1000


async def test_customer_whose_stream_got_it_is_not_pushed_but_urgent_always_is(
    push_api: Api, service: LoopbackPushService
) -> None:
    _, admin, customer, browser = await subscribed_customer(push_api, service)
    async with open_stream(push_api.client, CUSTOMER_STREAM, token=customer.token) as stream:
        await stream.next_event()  # connected
        normal = await notify_customer(push_api, admin, customer)
        assert (await stream.next_notification()).json()["id"] == normal["id"]
        urgent = await notify_customer(push_api, admin, customer, priority="urgent")
        assert (await stream.next_notification()).json()["id"] == urgent["id"]
        [push] = await service.wait_for(browser)
        assert push.payload["id"] == urgent["id"]
        assert push.headers["urgency"] == "high"
        await asyncio.sleep(PUSH_DELAY * 2)
    assert [p.payload["id"] for p in service.pushes_to(browser)] == [urgent["id"]]


async def test_a_stream_that_gets_it_by_replay_within_the_delay_means_no_push(
    push_api: Api, service: LoopbackPushService
) -> None:
    _, admin, customer, browser = await subscribed_customer(push_api, service)
    missed = await notify_customer(push_api, admin, customer)  # no stream open: pending
    async with open_stream(
        push_api.client, CUSTOMER_STREAM, token=customer.token, last_event_id=missed["id"] - 1
    ) as stream:
        await stream.next_event()  # connected
        assert (await stream.next_notification()).json()["id"] == missed["id"]  # replayed
        control = await notify_customer(push_api, admin, customer, priority="urgent")
        [push] = await service.wait_for(browser)  # the urgent one: pushes do flow
        assert push.payload["id"] == control["id"]
        await asyncio.sleep(PUSH_DELAY * 2)
    assert [p.payload["id"] for p in service.pushes_to(browser)] == [control["id"]]


async def test_a_stream_that_filters_a_notification_out_did_not_receive_it(
    push_api: Api, service: LoopbackPushService
) -> None:
    _, admin, customer, browser = await subscribed_customer(push_api, service)
    params = {"min_priority": "high"}
    async with open_stream(
        push_api.client, CUSTOMER_STREAM, token=customer.token, params=params
    ) as stream:
        await stream.next_event()
        note = await notify_customer(push_api, admin, customer, priority="normal")
        [push] = await service.wait_for(browser)
        assert push.payload["id"] == note["id"]


async def test_salon_notification_pushes_only_the_admins_without_a_stream(
    push_api: Api, service: LoopbackPushService
) -> None:
    salon, watching, _ = await world(push_api)
    away = await push_api.create_admin(salon["id"])
    watching_browser, away_browser = service.new_subscription(), service.new_subscription()
    await subscribe(push_api, watching, watching_browser)
    await subscribe(push_api, away, away_browser)
    async with open_stream(push_api.client, ADMIN_STREAM, token=watching.token) as stream:
        await stream.next_event()
        note = await push_api.notify(watching.token, recipient_type="salon")
        assert (await stream.next_notification()).json()["id"] == note["id"]
        [push] = await service.wait_for(away_browser)
        assert push.payload["id"] == note["id"]
        await asyncio.sleep(PUSH_DELAY)
    assert service.pushes_to(watching_browser) == []


async def test_an_appointment_confirmed_while_the_customer_is_away_is_pushed(
    push_api: Api, service: LoopbackPushService
) -> None:
    salon, admin, customer = await world(push_api)
    offer = await push_api.create_service(admin.token, salon["id"])
    browser = service.new_subscription()
    await subscribe(push_api, customer, browser)
    booked = await push_api.client.post(
        f"{API}/appointments",
        json={
            "salon_id": salon["id"],
            "service_id": offer["id"],
            "start_time": "2099-01-01T10:00:00Z",
        },
        headers=customer.headers,
    )
    appointment = expect(booked, 201).json()
    confirmed = await push_api.client.post(
        f"{API}/appointments/{appointment['id']}/confirm", headers=admin.headers
    )
    expect(confirmed, 200)
    [push] = await service.wait_for(browser)
    assert push.payload["notification_type"] == "appointment_confirmed"
    assert push.payload["salon_id"] == salon["id"]


async def test_a_salon_batch_sends_at_most_the_limit_per_window_and_the_rest_later(
    push_api: Api, service: LoopbackPushService
) -> None:
    salon, admin, _ = await world(push_api)
    colleague = await push_api.create_admin(salon["id"])
    browsers = [service.new_subscription() for _ in range(4)]
    for account, browser in zip((admin, admin, colleague, colleague), browsers, strict=True):
        await subscribe(push_api, account, browser)
    items = [
        {"notification_type": "batch", "title": f"T{i}", "message": "M", "priority": "urgent",
         "recipient_type": "salon"}
        for i in range(2)
    ]  # fmt: skip
    response = await push_api.client.post(
        f"{API}/notifications/batch", json={"notifications": items}, headers=admin.headers
    )
    ids = sorted(n["id"] for n in expect(response, 201).json()["notifications"])
    # 8 pushes wanted, 5 a window allowed: 5 now, the other 3 held in the outbox, sent
    # when the next window opens. None lost, none twice.
    pushes = [p for b in browsers for p in await service.wait_for(b, count=2, timeout=15)]
    for browser in browsers:
        assert sorted(p.payload["id"] for p in service.pushes_to(browser)) == ids
    times = sorted(p.received_at for p in pushes)
    window = float(PUSH_SETTINGS["LIMIT_PUSHES_WINDOW"])
    assert times[4] - times[0] < window / 2, times  # the first five at once
    assert times[5] - times[0] >= window / 2, times  # the sixth in the next window
    metrics = (await push_api.client.get("/metrics")).text
    assert 'salon_limit_refusals_total{limit="pushes_per_salon"} 0.0' not in metrics


async def test_gone_deletes_the_subscription(push_api: Api, service: LoopbackPushService) -> None:
    _, admin, customer, browser = await subscribed_customer(push_api, service)
    service.answer(browser.token, 410)
    await notify_customer(push_api, admin, customer)
    [push] = await service.wait_for(browser)
    assert push.status == 410
    listed: list[object] = [None]
    async with asyncio.timeout(5):
        while listed:
            response = await push_api.client.get(
                f"{API}/push/subscriptions", headers=customer.headers
            )
            listed = expect(response, 200).json()
            await asyncio.sleep(0.05)
    metrics = (await push_api.client.get("/metrics")).text
    assert 'salon_push_sent_total{result="gone"}' in metrics
    await notify_customer(push_api, admin, customer)
    await asyncio.sleep(PUSH_DELAY * 2)
    assert len(service.pushes_to(browser)) == 1  # never again


async def test_too_many_requests_is_retried_after_retry_after(
    push_api: Api, service: LoopbackPushService
) -> None:
    _, admin, customer, browser = await subscribed_customer(push_api, service)
    service.answer(browser.token, 429, retry_after=2)
    note = await notify_customer(push_api, admin, customer)
    first, second = await service.wait_for(browser, count=2, timeout=15)
    assert (first.status, second.status) == (429, 201)
    assert second.received_at - first.received_at >= 1.9
    assert first.payload == second.payload and second.payload["id"] == note["id"]


async def test_a_hanging_push_service_does_not_slow_notification_creation(
    push_api: Api, service: LoopbackPushService
) -> None:
    _, admin, customer = await world(push_api)

    async def post_latencies(count: int) -> list[float]:
        latencies = []
        for _ in range(count):
            start = time.perf_counter()
            await notify_customer(push_api, admin, customer)
            latencies.append(time.perf_counter() - start)
        return latencies

    before = await post_latencies(20)
    browsers = [service.new_subscription() for _ in range(3)]
    for browser in browsers:
        await subscribe(push_api, customer, browser)
        for _ in range(10):
            service.answer(browser.token, "hang")
    await notify_customer(push_api, admin, customer)
    await service.wait_hanging(3)
    during = await post_latencies(20)
    assert service.hanging >= 1, "the push service was still hanging while we measured"
    assert max(during) < 1.0, during
    assert statistics.median(during) < statistics.median(before) * 3 + 0.05, (before, during)


async def test_a_restart_resumes_pushes_that_were_due(
    backend: str, tmp_path: Path, push_api: Api
) -> None:
    settings = {**PUSH_SETTINGS, "PUSH_DELAY_SECONDS": "2"}
    with fresh_server(backend, tmp_path / "restart", **settings) as server:
        async with connect(server) as api:
            key = expect(await api.client.get(f"{API}/push/vapid-public-key"), 200).json()
            async with loopback_push_service(key["public_key"]) as service:
                _, admin, customer = await world(api)
                browser = service.new_subscription()
                await subscribe(api, customer, browser)
                note = await notify_customer(api, admin, customer)
                await asyncio.to_thread(server.kill)  # before it was due: a crash
                assert service.pushes_to(browser) == []
                await server.astart()
                [push] = await service.wait_for(browser, timeout=15)
                assert push.payload["id"] == note["id"]
                assert service.errors == []


# ---------------------------------------------------------------------- subscriptions


async def test_subscriptions_are_idempotent_listed_moved_and_deleted_by_their_owner(
    push_api: Api, service: LoopbackPushService
) -> None:
    _, admin, customer = await world(push_api)
    browser = service.new_subscription()
    body = browser.to_json()
    created = await push_api.client.post(
        f"{API}/push/subscriptions", json=body, headers=customer.headers
    )
    first = expect(created, 201).json()
    assert set(first) == {"id", "endpoint", "created_at"} and first["endpoint"] == browser.endpoint
    again = await push_api.client.post(
        f"{API}/push/subscriptions", json=body, headers=customer.headers
    )
    assert expect(again, 200).json()["id"] == first["id"]
    listed = await push_api.client.get(f"{API}/push/subscriptions", headers=customer.headers)
    assert [s["id"] for s in expect(listed, 200).json()] == [first["id"]]

    # The same browser, now signed in as the admin: the subscription is the admin's.
    moved = await push_api.client.post(
        f"{API}/push/subscriptions", json=body, headers=admin.headers
    )
    assert expect(moved, 200).json()["id"] == first["id"]
    listed = await push_api.client.get(f"{API}/push/subscriptions", headers=customer.headers)
    assert expect(listed, 200).json() == []
    path = f"{API}/push/subscriptions/{first['id']}"
    assert (await push_api.client.delete(path, headers=customer.headers)).status_code == 404
    assert (await push_api.client.delete(path, headers=admin.headers)).status_code == 204
    assert (await push_api.client.delete(path, headers=admin.headers)).status_code == 404


async def test_a_user_keeps_at_most_ten_subscriptions_the_oldest_go(
    push_api: Api, service: LoopbackPushService
) -> None:
    customer = await push_api.register_customer()
    ids = [await subscribe(push_api, customer, service.new_subscription()) for _ in range(11)]
    listed = await push_api.client.get(f"{API}/push/subscriptions", headers=customer.headers)
    assert [s["id"] for s in expect(listed, 200).json()] == ids[1:]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"keys": {"p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": b64url(b"a" * 16)}}, "p256dh"),
        ({"keys": {"p256dh": "not base64!", "auth": b64url(b"a" * 16)}}, "p256dh"),
        ({"auth": b64url(b"short")}, "auth"),
        ({"endpoint": "https://push.example/" + "x" * 3000}, "endpoint"),
        ({"endpoint": "ftp://127.0.0.1/x"}, None),
        ({"keys": None}, "keys"),
    ],
)
async def test_bad_keys_or_endpoints_are_422(
    push_api: Api, service: LoopbackPushService, change: dict, field: str | None
) -> None:
    customer = await push_api.register_customer(login=True)
    body = service.new_subscription().to_json()
    if "auth" in change:
        body["keys"]["auth"] = change["auth"]
    else:
        body.update(change)
    response = await push_api.client.post(
        f"{API}/push/subscriptions", json=body, headers=customer.headers
    )
    assert response.status_code == 422, response.text
    assert "detail" in response.json()
    if field:
        assert field in response.text


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://push.example.com/x",  # not https
        "https://127.0.0.1/push/x",  # loopback
        "https://localhost:8443/push/x",
        "https://10.1.2.3/push/x",  # private
        "https://192.168.0.1/push/x",
        "https://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "https://[::1]/push/x",
        "https://[fd00::1]/push/x",
        "https://0.0.0.0/push/x",
        "https://push.invalid/x",  # does not resolve
    ],
)
async def test_private_or_plain_http_endpoints_are_refused_without_the_setting(
    api: Api, endpoint: str
) -> None:
    customer = await api.register_customer()
    body = BrowserSubscription(endpoint).to_json()
    response = await api.client.post(
        f"{API}/push/subscriptions", json=body, headers=customer.headers
    )
    assert response.status_code == 422, response.text
    assert "endpoint" in response.json()["detail"]


async def test_endpoints_off_the_push_services_or_port_443_are_refused(api: Api) -> None:
    customer = await api.register_customer()
    for endpoint, reason in [
        ("https://8.8.8.8/push/x", "browser push service"),  # public, but no push service
        ("https://203.0.113.9.nip.io/push/x", "browser push service"),
        ("https://fcm.googleapis.com.example.net/push/x", "browser push service"),
        ("https://fcm.googleapis.com:8443/push/x", "port 443"),  # a push service, another port
        ("https://8.8.8.8:9000/push/x", "port 443"),
    ]:
        body = BrowserSubscription(endpoint).to_json()
        response = await api.client.post(
            f"{API}/push/subscriptions", json=body, headers=customer.headers
        )
        assert response.status_code == 422, (endpoint, response.text)
        assert reason in response.json()["detail"], endpoint


async def test_only_admins_and_customers_subscribe_and_a_token_is_needed(api: Api) -> None:
    body = BrowserSubscription("https://push.example.com/x").to_json()
    anonymous = await api.client.post(f"{API}/push/subscriptions", json=body)
    assert anonymous.status_code == 401
    superadmin = await api.client.post(
        f"{API}/push/subscriptions", json=body, headers=api.auth(api.superadmin_token)
    )
    assert superadmin.status_code == 403
    key = await api.client.get(f"{API}/push/vapid-public-key")
    assert key.status_code == 200  # anyone


async def test_cookie_signed_subscribe_needs_the_csrf_header(api: Api) -> None:
    customer = await api.register_customer()
    body = BrowserSubscription("https://push.example.com/x").to_json()
    async with httpx.AsyncClient(base_url=api.server.base_url, timeout=10) as browser:
        signed_in = await browser.post(
            f"{API}/auth/session", data={"username": customer.email, "password": customer.password}
        )
        assert signed_in.status_code in (200, 204), signed_in.text
        refused = await browser.post(f"{API}/push/subscriptions", json=body)
        assert refused.status_code == 403


# ---------------------------------------------------------------------- several instances


async def test_two_instances_a_stream_on_the_other_one_means_no_push_and_a_dead_one_misses_none(
    backend: str, tmp_path: Path, server_factory
) -> None:
    # Every instance of a deployment signs with the same key (browsers bind a subscription
    # to the applicationServerKey): here given raw, base64url, as VAPID_PRIVATE_KEY.
    raw_key = b64url(
        ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32)
    )
    env = {**instance_env(), **PUSH_SETTINGS, "VAPID_PRIVATE_KEY": raw_key}
    one = await asyncio.to_thread(server_factory, env)  # a fresh database for this deployment
    two = ServerProcess(dict(one.overrides), workdir=tmp_path / "two", backend=backend)
    await two.astart()
    try:
        async with connect(one) as on_one, connect(two) as on_two:
            keys = {
                expect(await a.client.get(f"{API}/push/vapid-public-key"), 200).json()["public_key"]
                for a in (on_one, on_two)
            }
            [public_key] = keys
            async with loopback_push_service(public_key) as service:
                _, admin, customer = await world(on_one)
                browser = service.new_subscription()
                await subscribe(on_one, customer, browser)
                await asyncio.sleep(0.5)  # instance two hears of the subscription (broker)
                async with open_stream(on_two.client, CUSTOMER_STREAM, token=customer.token) as s:
                    await s.next_event()
                    seen = await notify_customer(on_one, admin, customer)
                    assert (await s.next_notification()).json()["id"] == seen["id"]
                    await asyncio.sleep(PUSH_DELAY * 3)
                assert service.pushes_to(browser) == []

                # Created on two, which dies before it is due: one pushes it.
                missed = await notify_customer(on_two, admin, customer)
                await asyncio.to_thread(two.kill)
                [push] = await service.wait_for(browser, timeout=15)
                assert push.payload["id"] == missed["id"]
                assert service.errors == []
    finally:
        await two.astop()


async def test_the_log_names_a_push_service_but_never_an_endpoint(
    push_api: Api, push_server: ServerProcess, service: LoopbackPushService
) -> None:
    _, admin, customer, browser = await subscribed_customer(push_api, service)
    await notify_customer(push_api, admin, customer)
    await service.wait_for(browser)
    await asyncio.sleep(0.3)
    log = push_server.log_text()
    assert f"to {service.origin.rsplit(':', 1)[0]}" in log  # the origin, without the path
    assert browser.token not in log


async def test_retries_stop_at_push_max_attempts_and_count_as_failed(
    backend: str, tmp_path: Path
) -> None:
    settings = {**PUSH_SETTINGS, "PUSH_MAX_ATTEMPTS": "2"}
    with fresh_server(backend, tmp_path / "attempts", **settings) as server:
        async with connect(server) as api:
            key = expect(await api.client.get(f"{API}/push/vapid-public-key"), 200).json()
            async with loopback_push_service(key["public_key"]) as service:
                _, admin, customer, browser = await subscribed_customer(api, service)
                for _ in range(3):
                    service.answer(browser.token, 503)
                await notify_customer(api, admin, customer)
                first, second = await service.wait_for(browser, count=2, timeout=15)
                assert (first.status, second.status) == (503, 503)
                await asyncio.sleep(4)  # a third attempt would have come (backoff 2 s at most)
                assert len(service.pushes_to(browser)) == 2
                metrics = (await api.client.get("/metrics")).text
                assert 'salon_push_sent_total{result="retry"} 1.0' in metrics
                assert 'salon_push_sent_total{result="failed"} 1.0' in metrics
                assert service.errors == []
