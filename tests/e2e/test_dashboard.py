"""The dashboard at `/`, as two people use it: the demo admin and the demo customer, each in a
browser of their own, against `salon serve --demo`.

The customer books and the admin sees it within a second; the admin confirms and the customer
sees that. Then the server stops while both pages stay open; while it is down, another server
on the same database takes a booking and a message; the server comes back on the same port and
both pages reconnect by themselves and show what they missed (EventSource's Last-Event-ID).
Screenshots of both pages, at laptop and phone widths, go to test-artifacts/e2e/.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from app.services.bootstrap import DEMO_ADMIN, DEMO_CUSTOMER
from tests.e2e.conftest import LAPTOP, PHONE, DemoServer, demo_server
from tests.utils.factories import API
from tests.utils.factories import expect as expect_status

pytestmark = pytest.mark.timeout(90)

NOTE = ".note[data-type='{}']"


async def open_dashboard(
    context: BrowserContext, base_url: str, errors: list[str] | None = None
) -> Page:
    page = await context.new_page()
    if errors is not None:
        page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(base_url + "/", timeout=10_000)
    return page


async def sign_in(page: Page, email: str, password: str) -> None:
    await expect(page.locator("#signin-form")).to_be_visible(timeout=5_000)
    await page.fill("#signin-email", email)
    await page.fill("#signin-password", password)
    await page.click("#signin-submit")
    await expect(page.locator("#status")).to_have_attribute(
        "data-state", "connected", timeout=5_000
    )


def booking_slot(hours_ahead: int) -> tuple[str, str]:
    """A date and time (UTC, which is the pages' time zone) safely in the future."""
    start = datetime.now(UTC) + timedelta(hours=hours_ahead)
    start = start.replace(minute=(start.minute // 15) * 15, second=0, microsecond=0)
    return start.strftime("%Y-%m-%d"), start.strftime("%H:%M")


async def book(page: Page, hours_ahead: int) -> dict[str, object]:
    day, time = booking_slot(hours_ahead)
    await page.fill("#book-date", day)
    await page.fill("#book-time", time)
    async with page.expect_response(
        lambda r: r.url.endswith("/api/v1/appointments") and r.request.method == "POST",
        timeout=5_000,
    ) as answer:
        await page.click("#book-submit")
    response = await answer.value
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def screenshots(pages: dict[str, Page], directory: Path) -> None:
    """Both pages at laptop and phone widths, scrolled to the top, once the toasts are gone."""
    for size_name, size in (("laptop", LAPTOP), ("phone", PHONE)):
        for name, page in pages.items():
            await page.set_viewport_size(size)
            await expect(page.locator(".toast")).to_have_count(0, timeout=5_000)
            await page.evaluate("window.scrollTo(0, 0)")
            await page.screenshot(path=str(directory / f"{name}-{size_name}.png"), full_page=True)
    for page in pages.values():
        await page.set_viewport_size(LAPTOP)


async def while_down(server: DemoServer, workdir: Path, customer_id: int) -> None:
    """With `server` stopped, a sibling on the same database takes a booking from the customer
    and sends the customer a message from the admin."""
    sibling = server.sibling(workdir)
    await sibling.astart()
    try:
        async with httpx.AsyncClient(base_url=sibling.base_url, timeout=10) as client:
            tokens = {}
            for email, password, _ in (DEMO_ADMIN, DEMO_CUSTOMER):
                form = {"username": email, "password": password}
                answer = expect_status(await client.post(f"{API}/auth/login", data=form), 200)
                tokens[email] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            admin, customer = tokens[DEMO_ADMIN[0]], tokens[DEMO_CUSTOMER[0]]
            salon_id = (await client.get(f"{API}/auth/me", headers=admin)).json()["salon_id"]
            services = await client.get(f"{API}/salons/{salon_id}/services", headers=admin)
            start = (datetime.now(UTC) + timedelta(hours=5)).isoformat()
            body = {
                "salon_id": salon_id,
                "service_id": services.json()[0]["id"],
                "start_time": start,
            }
            expect_status(
                await client.post(f"{API}/appointments", json=body, headers=customer), 201
            )
            message = {
                "notification_type": "message",
                "title": "Your stylist is ready early",
                "message": "Come in whenever you like",
                "recipient_type": "customer",
                "recipient_id": customer_id,
            }
            expect_status(
                await client.post(f"{API}/notifications", json=message, headers=admin), 201
            )
    finally:
        await sibling.astop()


async def test_booking_confirmation_and_restart_reach_both_pages_live(
    browser: Browser, tmp_path: Path, artifacts: Path
) -> None:
    server = demo_server(tmp_path / "server")
    await server.astart()
    contexts: list[BrowserContext] = []
    try:
        assert f"{server.base_url.replace('127.0.0.1', 'localhost')}/" in server.log_text(), (
            "salon serve --demo should point to the dashboard:\n" + server.log_tail()
        )
        for _ in range(2):  # two people, two browsers: one session cookie each
            contexts.append(await browser.new_context(viewport=LAPTOP, timezone_id="UTC"))
        errors: list[str] = []
        admin = await open_dashboard(contexts[0], server.base_url, errors)
        customer = await open_dashboard(contexts[1], server.base_url, errors)
        await sign_in(admin, DEMO_ADMIN[0], DEMO_ADMIN[1])
        await sign_in(customer, DEMO_CUSTOMER[0], DEMO_CUSTOMER[1])
        await expect(admin.locator("#admin-view")).to_be_visible()
        await expect(customer.locator("#customer-view")).to_be_visible()
        await expect(admin.locator(".note")).to_have_count(0)

        # The customer books: the admin's page shows it within a second.
        appointment = await book(customer, hours_ahead=3)
        booked = admin.locator(NOTE.format("new_appointment"))
        await expect(booked).to_have_count(1, timeout=1_000)
        await expect(booked).to_contain_text("Casey Customer booked Haircut")
        row = admin.locator(f".appt[data-id='{appointment['id']}']")
        await expect(row).to_have_attribute("data-status", "pending", timeout=1_000)
        await expect(admin.locator("[data-unread-badge]").first).to_have_text("1")

        # The admin confirms: the customer's page shows it within a second.
        await row.locator("[data-action='confirm']").click()
        confirmed = customer.locator(NOTE.format("appointment_confirmed"))
        await expect(confirmed).to_have_count(1, timeout=1_000)
        mine = customer.locator(f".appt[data-id='{appointment['id']}']")
        await expect(mine).to_have_attribute("data-status", "confirmed", timeout=2_000)
        await expect(row).to_have_attribute("data-status", "confirmed", timeout=2_000)

        # A click marks a notification read.
        await expect(confirmed).to_have_class(re.compile(r"\bnote-unread\b"))
        await confirmed.click()
        await expect(confirmed).not_to_have_class(re.compile(r"\bnote-unread\b"), timeout=2_000)
        await expect(customer.locator("[data-unread-badge]").first).to_be_hidden(timeout=2_000)

        # The server goes away; both pages say so and keep trying by themselves.
        await server.astop()
        for page in (admin, customer):
            await expect(page.locator("#status")).not_to_have_attribute(
                "data-state", "connected", timeout=5_000
            )
        customer_id = int(appointment["customer_id"])  # type: ignore[call-overload]
        await while_down(server, tmp_path / "sibling", customer_id)

        # Back on the same port and database: both reconnect and catch up, without reloading.
        await server.astart()
        for page in (admin, customer):
            await expect(page.locator("#status")).to_have_attribute(
                "data-state", "connected", timeout=15_000
            )
        await expect(admin.locator(NOTE.format("new_appointment"))).to_have_count(2, timeout=5_000)
        await expect(customer.locator(NOTE.format("message"))).to_contain_text(
            "Your stylist is ready early", timeout=5_000
        )
        await expect(admin.locator(".appt[data-status='pending']")).to_have_count(1, timeout=5_000)
        for page in (admin, customer):
            ids = await page.locator(".note").evaluate_all("els => els.map(e => e.dataset.id)")
            assert len(ids) == len(set(ids)), f"a notification shown twice: {ids}"
            assert ids == sorted(ids, key=int, reverse=True), f"not newest first: {ids}"

        await screenshots({"admin": admin, "customer": customer}, artifacts)
        assert not errors, f"JavaScript errors on the pages: {errors}"
    finally:
        for context in contexts:
            await context.close()
        await server.astop()


async def test_sign_in_refuses_a_wrong_password_and_sign_out_ends_the_session(
    browser: Browser, tmp_path: Path, artifacts: Path
) -> None:
    server = demo_server(tmp_path / "server")
    await server.astart()
    context = await browser.new_context(viewport=PHONE)
    try:
        page = await open_dashboard(context, server.base_url)
        await page.fill("#signin-email", DEMO_ADMIN[0])
        await page.fill("#signin-password", "not-the-password")
        await page.click("#signin-submit")
        await expect(page.locator("#signin-error")).to_have_text("Wrong email or password.")
        await page.screenshot(path=str(artifacts / "signin-phone.png"), full_page=True)

        await sign_in(page, DEMO_ADMIN[0], DEMO_ADMIN[1])
        cookies = {c["name"]: c for c in await context.cookies(server.base_url + "/api/v1")}
        session = cookies["salon_session"]
        assert session["httpOnly"] and session["sameSite"] == "Lax", session
        assert await page.evaluate("document.cookie") == "", "the session is HttpOnly"

        await page.reload()  # the cookie keeps the page signed in
        await expect(page.locator("#status")).to_have_attribute("data-state", "connected")

        # Browser notifications: off until asked for, and the browser's permission is asked.
        alerts = page.locator("#alerts-toggle")
        await expect(alerts).to_have_attribute("aria-pressed", "false")
        await context.grant_permissions(["notifications"], origin=server.base_url)
        await alerts.click()
        await expect(alerts).to_have_attribute("aria-pressed", "true")
        await page.reload()
        await expect(page.locator("#alerts-toggle")).to_have_attribute("aria-pressed", "true")

        await page.click("#sign-out")
        await expect(page.locator("#signin-form")).to_be_visible()
        assert not await context.cookies(server.base_url + "/api/v1")
        await page.reload()
        await expect(page.locator("#signin-form")).to_be_visible()
    finally:
        await context.close()
        await server.astop()
