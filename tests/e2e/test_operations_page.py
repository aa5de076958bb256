"""The operations view at `/`, as the platform's superadmin sees it in Chromium.

Signed in as the superadmin, the page shows the deployment's figures; streams opened and
notifications created through the API show up in the totals, the busiest salons and the
charts within seconds (read from the DOM). The view works by keyboard, says its status in
words, and fits a phone's width; screenshots at laptop and phone widths go to
test-artifacts/e2e/ (ops-laptop.png, ops-phone.png).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from app.services.bootstrap import DEMO_ADMIN, DEMO_CUSTOMER, DEMO_SALON
from tests.e2e.conftest import demo_server
from tests.utils.factories import API
from tests.utils.factories import expect as expect_status
from tests.utils.sse import open_stream

pytestmark = pytest.mark.timeout(90)

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CREATED = 6


async def login(client: httpx.AsyncClient, email: str, password: str) -> str:
    form = {"username": email, "password": password}
    answer = expect_status(await client.post(f"{API}/auth/login", data=form), 200)
    return str(answer.json()["access_token"])


async def chart_peak(page: Page, chart: str) -> float:
    return float(await page.get_attribute(f"[data-chart='{chart}']", "data-peak") or 0)


async def wait_for_peak(page: Page, chart: str, at_least: float) -> None:
    await page.wait_for_function(
        "([chart, least]) => Number(document.querySelector("
        "`[data-chart='${chart}']`)?.dataset.peak) >= least",
        arg=[chart, at_least],
        timeout=15_000,
    )


async def test_the_superadmin_sees_streams_and_notifications_move_the_figures(
    browser: Browser, tmp_path: Path, artifacts: Path
) -> None:
    server = demo_server(tmp_path / "server", OPS_SAMPLE_INTERVAL="0.5")
    await server.astart()
    context = await browser.new_context(viewport=LAPTOP, timezone_id="UTC")
    errors: list[str] = []
    try:
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # Console errors but the 401 of /auth/me before signing in (a CSP violation shows here).
        page.on(
            "console",
            lambda m: (
                errors.append(m.text)
                if m.type == "error" and "Failed to load resource" not in m.text
                else None
            ),
        )
        await page.goto(server.base_url + "/", timeout=10_000)
        await page.fill("#signin-email", server.superadmin_email)
        await page.fill("#signin-password", server.superadmin_password)
        await page.press("#signin-password", "Enter")  # the keyboard signs in too

        await expect(page.locator("#super-view")).to_be_visible(timeout=5_000)
        await expect(page.locator("#ops-total")).to_have_text("0", timeout=5_000)
        # Health in words (the loop's lag is left out: a loaded test machine may lag).
        await expect(page.locator("#ops-health-label")).to_have_text(
            re.compile(r"^(Healthy|Degraded: event loop lagging)$")
        )
        checks = page.locator("#ops-checks dd")
        await expect(checks.nth(0)).to_have_text("OK: answering")  # the database
        await expect(checks.nth(1)).to_have_text("OK: answering")  # the broker
        await expect(checks.nth(2)).to_have_text(re.compile(r"^(OK|Slow): [\d.,]+ ms$"))
        await expect(page.locator("#ops-instances tbody tr")).to_have_count(1)
        await expect(page.locator("#ops-charts figure")).to_have_count(6)
        assert await chart_peak(page, "created") == 0

        async with (
            httpx.AsyncClient(base_url=server.base_url, timeout=10) as client,
            contextlib.AsyncExitStack() as streams,
        ):
            admin = await login(client, DEMO_ADMIN[0], DEMO_ADMIN[1])
            customer = await login(client, DEMO_CUSTOMER[0], DEMO_CUSTOMER[1])
            for path, token in (
                ("/notifications/stream", admin),
                ("/notifications/customer/stream", customer),
            ):
                stream = await streams.enter_async_context(open_stream(client, API + path, token))
                assert (await stream.next_event()).event == "connected"
            for number in range(CREATED):
                body = {
                    "notification_type": "message",
                    "title": f"Ops check {number}",
                    "message": "",
                    "recipient_type": "salon",
                }
                headers = {"Authorization": f"Bearer {admin}"}
                expect_status(
                    await client.post(f"{API}/notifications", json=body, headers=headers), 201
                )

            # The totals, the busiest salons and the charts follow, without a reload.
            await expect(page.locator("#ops-total")).to_have_text("2", timeout=10_000)
            await expect(page.locator("#ops-admins")).to_have_text("1")
            await expect(page.locator("#ops-customers")).to_have_text("1")
            salon = page.locator("#ops-salons tbody tr", has_text=DEMO_SALON)
            await expect(salon.locator("[data-streams]")).to_have_text("1", timeout=10_000)
            await expect(salon.locator("[data-notifications]")).to_have_text(
                str(CREATED), timeout=15_000
            )
            await wait_for_peak(page, "streams", 2)
            await wait_for_peak(page, "created", 0.1)
            await wait_for_peak(page, "deliveries", 0.1)
            await wait_for_peak(page, "latency", 0.0001)
            for chart in ("streams", "created", "deliveries", "latency"):
                line = page.locator(f"[data-chart='{chart}'] .ops-line-0")
                assert (await line.get_attribute("d") or "").startswith("M"), f"{chart}: no line"
            label = await page.get_attribute("[data-chart='streams'] svg", "aria-label")
            assert label and label.startswith("Open streams over the last 15 minutes: now 2"), label

            # Keyboard: the pause button is reachable and works with Enter.
            pause = page.locator("#ops-pause")
            for _ in range(12):
                if await pause.evaluate("el => el === document.activeElement"):
                    break
                await page.keyboard.press("Tab")
            await expect(pause).to_be_focused()
            await page.keyboard.press("Enter")
            await expect(pause).to_have_attribute("aria-pressed", "true")
            await page.keyboard.press("Enter")
            await expect(pause).to_have_attribute("aria-pressed", "false")

            await page.screenshot(path=str(artifacts / "ops-laptop.png"), full_page=True)
            await page.set_viewport_size(PHONE)
            await page.evaluate("window.scrollTo(0, 0)")
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"the page is {width}px wide on a phone"
            await page.screenshot(path=str(artifacts / "ops-phone.png"), full_page=True)

        # The streams closed: the totals fall back.
        await expect(page.locator("#ops-total")).to_have_text("0", timeout=10_000)
        assert not errors, f"errors on the page: {errors}"
    finally:
        await context.close()
        await server.astop()
