"""Alerts when the browser is closed, in Chromium: the dashboard's service worker, and the
dashboard's subscribe and unsubscribe code against the server.

Headless Chromium has no push service, so `pushManager.subscribe` itself can't run end to
end. ONLY where the subscribe code runs (the dashboard's, and docs/clients.md's example)
is the browser's pushManager replaced by a stub (STUB_PUSH_MANAGER, an init script), which
hands the page a subscription whose keys this test holds, on a loopback push service
(tests/utils/push_service.py). Everything else is real: the server pushes to that service,
the service decrypts it, and the decrypted payload is delivered to the real service worker
through the DevTools protocol (`ServiceWorker.deliverPushMessage`), which shows it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, CDPSession, Page, expect

from app.services.bootstrap import DEMO_ADMIN, DEMO_CUSTOMER
from tests.e2e.conftest import DemoServer, OriginServer, demo_server
from tests.e2e.test_dashboard import open_dashboard, sign_in
from tests.utils.factories import API
from tests.utils.factories import expect as expect_status
from tests.utils.guide import guide_block
from tests.utils.push_service import BrowserSubscription, loopback_push_service, unb64url

pytestmark = pytest.mark.timeout(90)

# The worker's scope is /static/ (where it is served), so it never controls the dashboard
# at "/" (`serviceWorker.ready` would wait forever): its registration is looked up by scope.
REGISTRATION = "navigator.serviceWorker.getRegistration('/static/')"
NOTIFICATIONS = (
    REGISTRATION
    + """
  .then((r) => r.getNotifications())
  .then((ns) => ns.map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })))"""
)

# The one stub: pushManager, which needs a push service headless Chromium doesn't have.
STUB_PUSH_MANAGER = """
(() => {
  if (typeof localStorage === "undefined") return;
  // State in localStorage: a subscription outlives the page, as a browser's does.
  const KEY = "__stubPush";
  const load = () => JSON.parse(localStorage.getItem(KEY) || "{}");
  const save = (state) => localStorage.setItem(KEY, JSON.stringify(state));
  const wrap = (json) => ({
    endpoint: json.endpoint,
    toJSON: () => json,
    unsubscribe: async () => {
      const state = load();
      state.subscribed = false;
      state.unsubscribed = (state.unsubscribed || 0) + 1;
      save(state);
      return true;
    },
  });
  PushManager.prototype.getSubscription = async function () {
    const state = load();
    return state.subscribed ? wrap(state.json) : null;
  };
  PushManager.prototype.subscribe = async function (options) {
    const state = load();
    state.options = {
      userVisibleOnly: options.userVisibleOnly,
      key: Array.from(new Uint8Array(options.applicationServerKey)),
    };
    state.subscribed = true;
    save(state);
    return wrap(state.json);
  };
})();
"""
STUB_STATE = "JSON.parse(localStorage.getItem('__stubPush'))"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DemoServer]:
    settings = {"PUSH_ALLOW_PRIVATE_ENDPOINTS": "1", "PUSH_DELAY_SECONDS": "0.5"}
    with demo_server(tmp_path / "server", **settings, PUSH_POLL_INTERVAL="0.1") as process:
        yield process


@pytest.fixture
async def context(browser: Browser, server: DemoServer) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context()
    await context.grant_permissions(["notifications"], origin=server.base_url)
    try:
        yield context
    finally:
        await context.close()


async def registration_id(cdp: CDPSession, scope: str) -> str:
    """The service worker registration's id, as the DevTools protocol reports it."""
    found: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_update(event: dict[str, Any]) -> None:
        for registration in event["registrations"]:
            if registration["scopeURL"] == scope and not found.done():
                found.set_result(registration["registrationId"])

    cdp.on("ServiceWorker.workerRegistrationUpdated", on_update)
    await cdp.send("ServiceWorker.enable")
    return await asyncio.wait_for(found, 10)


async def deliver_push(page: Page, base_url: str, payload: dict[str, Any]) -> None:
    cdp = await page.context.new_cdp_session(page)
    async with asyncio.timeout(10):
        active = (
            f"{REGISTRATION}.then((r) => Boolean(r && r.active && r.active.state === 'activated'))"
        )
        while not await page.evaluate(active):
            await asyncio.sleep(0.05)
    registration = await registration_id(cdp, f"{base_url}/static/")
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": base_url, "registrationId": registration, "data": json.dumps(payload)},
    )


async def shown_notifications(page: Page, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(10):
        while len(shown := await page.evaluate(NOTIFICATIONS)) < count:
            await asyncio.sleep(0.05)
    return list(shown)


async def login(client: httpx.AsyncClient, who: tuple[str, str, str]) -> dict[str, str]:
    answer = await client.post(f"{API}/auth/login", data={"username": who[0], "password": who[1]})
    return {"Authorization": f"Bearer {expect_status(answer, 200).json()['access_token']}"}


async def confirm_to(
    client: httpx.AsyncClient, admin: dict[str, str], customer_id: int, title: str, message: str
) -> dict[str, Any]:
    """The demo admin sends the customer an `appointment_confirmed` notification."""
    body = {
        "notification_type": "appointment_confirmed",
        "title": title,
        "message": message,
        "recipient_type": "customer",
        "recipient_id": customer_id,
    }
    created = await client.post(f"{API}/notifications", json=body, headers=admin)
    return dict(expect_status(created, 201).json())


async def no_streams_left(client: httpx.AsyncClient, server: DemoServer) -> None:
    """The closed tab's stream has ended on the server (else it would get the notification)."""
    superadmin = await login(client, (server.superadmin_email, server.superadmin_password, ""))
    async with asyncio.timeout(10):
        while (await client.get(f"{API}/notifications/stream/stats", headers=superadmin)).json()[
            "total_connections"
        ]:
            await asyncio.sleep(0.05)


async def test_the_service_worker_shows_a_push_and_a_click_reaches_the_dashboard(
    context: BrowserContext, server: DemoServer
) -> None:
    errors: list[str] = []
    page = await open_dashboard(context, server.base_url, errors)
    await sign_in(page, DEMO_CUSTOMER[0], DEMO_CUSTOMER[1])
    await expect(page.locator("#push-toggle")).to_be_visible(timeout=5_000)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        admin = await login(client, DEMO_ADMIN)
        customer = await login(client, DEMO_CUSTOMER)
        me = expect_status(await client.get(f"{API}/auth/me", headers=customer), 200).json()
        note = await confirm_to(
            client, admin, me["id"], "Appointment confirmed", "See you on Friday"
        )
        await expect(page.locator(f".note[data-id='{note['id']}']")).to_be_visible(timeout=5_000)

        await deliver_push(
            page,
            server.base_url,
            {
                "id": note["id"],
                "notification_type": "appointment_confirmed",
                "title": "Appointment confirmed",
                "message": "See you on Friday",
                "salon_id": note["salon_id"],
                "priority": "urgent",
                "url": f"/?notification={note['id']}&salon=Demo+Salon",
            },
        )
        [shown] = await shown_notifications(page, 1)
        assert shown["title"] == "Demo Salon · Appointment confirmed"
        assert shown["body"] == "See you on Friday"
        assert (
            shown["data"]["url"] == f"{server.base_url}/?notification={note['id']}&salon=Demo+Salon"
        )

        # The worker's notificationclick handler, given the real notification (a headless
        # browser can't click one): it closes it and reaches the open dashboard, which
        # marks the notification read.
        [worker] = context.service_workers
        reached = await worker.evaluate(
            "self.registration.getNotifications().then((ns) => onNotificationClick(ns[0]))"
            ".then((client) => client && client.url)"
        )
        assert reached == server.base_url + "/"
        assert await page.evaluate(NOTIFICATIONS) == []
        async with asyncio.timeout(5):
            while not (await client.get(f"{API}/notifications", headers=customer)).json()[0][
                "is_read"
            ]:
                await asyncio.sleep(0.05)
    assert errors == []


async def test_dashboard_subscribes_and_unsubscribes_and_a_real_push_reaches_the_worker(
    context: BrowserContext, server: DemoServer
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        key = expect_status(await client.get(f"{API}/push/vapid-public-key"), 200).json()
        admin = await login(client, DEMO_ADMIN)
        customer = await login(client, DEMO_CUSTOMER)
        me = expect_status(await client.get(f"{API}/auth/me", headers=customer), 200).json()
        async with loopback_push_service(key["public_key"]) as service:
            browser_side: BrowserSubscription = service.new_subscription()
            await context.add_init_script(STUB_PUSH_MANAGER)
            page = await open_dashboard(context, server.base_url)
            await page.evaluate(
                "(json) => localStorage.setItem('__stubPush', JSON.stringify({ json }))",
                browser_side.to_json(),
            )
            await sign_in(page, DEMO_CUSTOMER[0], DEMO_CUSTOMER[1])
            toggle = page.locator("#push-toggle")
            await expect(toggle).to_have_text("Alerts when closed: off", timeout=5_000)

            await toggle.click()
            await expect(toggle).to_have_text("Alerts when closed: on", timeout=5_000)
            options = (await page.evaluate(STUB_STATE))["options"]
            assert options["userVisibleOnly"] is True
            assert bytes(options["key"]) == unb64url(key["public_key"])
            listed = expect_status(
                await client.get(f"{API}/push/subscriptions", headers=customer), 200
            )
            assert [s["endpoint"] for s in listed.json()] == [browser_side.endpoint]

            # The tab closes; the salon confirms something: the push service gets it, sealed.
            await page.close()
            await no_streams_left(client, server)
            note = await confirm_to(client, admin, me["id"], "Confirmed", "Tomorrow 10:00")
            [push] = await service.wait_for(browser_side, timeout=15)
            assert push.payload["id"] == note["id"]

            # What the push service would hand the browser, handed to the real worker.
            page = await open_dashboard(context, server.base_url)
            await deliver_push(page, server.base_url, push.payload)
            [shown] = await shown_notifications(page, 1)
            assert shown["title"].endswith("Confirmed") and shown["body"] == "Tomorrow 10:00"

            # Off: the server is told (DELETE), then the browser's subscription goes.
            toggle = page.locator("#push-toggle")
            await expect(toggle).to_have_text("Alerts when closed: on", timeout=5_000)
            await toggle.click()
            await expect(toggle).to_have_text("Alerts when closed: off", timeout=5_000)
            assert (await page.evaluate(STUB_STATE))["unsubscribed"] == 1
            listed = expect_status(
                await client.get(f"{API}/push/subscriptions", headers=customer), 200
            )
            assert listed.json() == []
            assert service.errors == []


async def test_the_guides_example_subscribes_from_another_origin_and_unsubscribes(
    browser: Browser, tmp_path: Path, allowed_origin: OriginServer
) -> None:
    settings = {"PUSH_ALLOW_PRIVATE_ENDPOINTS": "1", "CORS_ORIGINS": allowed_origin.origin}
    context = await browser.new_context()
    await context.grant_permissions(["notifications"], origin=allowed_origin.origin)
    await context.add_init_script(STUB_PUSH_MANAGER)  # pushManager: the one stub
    try:
        with demo_server(tmp_path / "guide", **settings) as server:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
                customer = await login(client, DEMO_CUSTOMER)
                token = customer["Authorization"].removeprefix("Bearer ")
                page = await context.new_page()
                await page.goto(allowed_origin.origin + "/blank.html")
                endpoint = BrowserSubscription("http://127.0.0.1:9/push/guide-test").to_json()
                await page.evaluate(
                    "(json) => localStorage.setItem('__stubPush', JSON.stringify({ json }))",
                    endpoint,
                )
                await page.add_script_tag(content=guide_block("browser-web-push"))
                subscription_id = await page.evaluate(
                    "([api, token]) => enablePushAlerts(api, token, '/push-sw.js')",
                    [server.base_url, token],
                )
                listed = await client.get(f"{API}/push/subscriptions", headers=customer)
                assert [(s["id"], s["endpoint"]) for s in expect_status(listed, 200).json()] == [
                    (subscription_id, endpoint["endpoint"])
                ]
                key = expect_status(await client.get(f"{API}/push/vapid-public-key"), 200).json()
                options = (await page.evaluate(STUB_STATE))["options"]
                assert bytes(options["key"]) == unb64url(key["public_key"])

                await page.evaluate(
                    "([api, token, id]) => disablePushAlerts(api, token, id, '/push-sw.js')",
                    [server.base_url, token, subscription_id],
                )
                listed = await client.get(f"{API}/push/subscriptions", headers=customer)
                assert expect_status(listed, 200).json() == []
                assert (await page.evaluate(STUB_STATE))["unsubscribed"] == 1
    finally:
        await context.close()
