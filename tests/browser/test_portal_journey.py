"""A new consumer's whole journey in the developer portal, in a real browser, against
`tollway demo` started as a user starts it (control plane, gateway, Stripe emulator with
webhook delivery, sample upstream): browse, read the reference, compare plans, sign up,
create an application, subscribe to pay-as-you-go, pay on the emulator's Checkout page,
create a key, call through the gateway, watch usage and cost move (to the cent, and
Stripe's upcoming invoice agrees), open Manage, cancel."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.support.waiting import wait_until

from .harness import DESKTOP, Shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a long reading passphrase"
CALLS = 7  # at $0.02 each: $0.14


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    control, gateway, metrics, emulator, upstream = _free_ports(5)
    data = tmp_path / "demo-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tollway.cli", "demo", "--data-dir", str(data)]
            + ["--port", str(control), "--gateway-port", str(gateway)]
            + ["--gateway-admin-port", str(metrics), "--emulator-port", str(emulator)]
            + ["--upstream-port", str(upstream)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            marker = data / "demo.json"

            def seeded() -> bool:
                if proc.poll() is not None:
                    raise AssertionError(f"tollway demo exited: {log_path.read_text()[-3000:]}")
                return marker.exists()

            wait_until(seeded, timeout=120, what="the demo to be seeded")
            yield json.loads(marker.read_text())
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _stat(page: Page, name: str) -> str:
    return page.locator(f'[data-usage="{name}"]').inner_text().strip()


def test_a_new_consumer_finds_subscribes_pays_calls_watches_and_cancels(
    browser: Browser, demo: dict[str, Any], shoot: Shoot
) -> None:
    allowed = (demo["control_plane"] + "/", demo["emulator"] + "/", "data:", "blob:")
    outside: list[str] = []
    errors: list[str] = []
    context = browser.new_context(viewport=DESKTOP, base_url=demo["control_plane"])

    def only_ours(route: Route) -> None:
        if route.request.url.startswith(allowed):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_ours)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(15_000)
    try:
        _journey(page, demo, shoot)
    finally:
        context.close()
    assert outside == [], f"the pages tried to reach other hosts: {outside}"
    assert errors == [], f"JavaScript errors: {errors}"


def _journey(page: Page, demo: dict[str, Any], shoot: Shoot) -> None:
    # 1. browse the catalog anonymously, search, open the API
    page.goto("/portal")
    expect(page.get_by_role("heading", level=1)).to_have_text("APIs")
    page.get_by_label("Search by name or description").fill("reading")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#catalog-results")).to_contain_text("1 API found")
    shoot(page, "portal/catalog")
    page.get_by_role("link", name="Reading List").click()

    # 2. compare the plans and price 1,500 calls with the calculator
    expect(page.get_by_role("heading", name="Pay-as-you-go")).to_be_visible()
    expect(page.locator(".plans")).to_contain_text("100 calls per month, then refused")
    expect(page.locator(".plans")).to_contain_text("1,000 calls per minute")
    page.get_by_label("Calls in one billing period").fill("1500")
    page.get_by_role("button", name="Calculate").click()
    result = page.locator("#cost-result")
    expect(result).to_contain_text("At 1,500 calls")
    expect(result.locator("tr", has_text="Pay-as-you-go").locator("[data-total]")).to_have_text(
        "$30.00"
    )
    expect(result.locator("tr", has_text="Free").locator("[data-total]")).to_have_text("$0.00")
    shoot(page, "portal/api")
    api_url = page.url

    # 3. read the reference (the stored OpenAPI document, vendored Swagger UI)
    page.get_by_role("link", name="API reference").first.click()
    expect(page.locator(".opblock-summary-path").first).to_contain_text("/books")
    shoot(page, "portal/reference")

    # 4. choose the paid plan: sign-in first, then create an account, back to the plan
    page.goto(api_url)
    page.get_by_role("link", name="Choose Pay-as-you-go").click()
    expect(page).to_have_url(re.compile(r"/portal/sign-in\?next="))
    shoot(page, "portal/sign-in")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Your name").fill("Ada Reader")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".flashes")).to_contain_text("Welcome, Ada Reader!")
    expect(page.get_by_text("You need an application first")).to_be_visible()

    # 5. create an application
    page.get_by_role("link", name="Create an application").click()
    page.get_by_label("Application name").fill("Bookworm")
    page.get_by_role("button", name="Create application").click()
    expect(page.locator(".flashes")).to_contain_text("Application “Bookworm” created.")
    app_url = page.url

    # 6. subscribe to pay-as-you-go and pay on the emulator's Checkout page
    page.goto(api_url)
    page.get_by_role("link", name="Choose Pay-as-you-go").click()
    expect(page.get_by_label("Plan")).to_have_value(demo["paid_plan_id"])
    shoot(page, "portal/subscribe")
    page.get_by_role("button", name="Subscribe").click()
    expect(page).to_have_url(re.compile("^" + re.escape(demo["emulator"])))
    page.get_by_label("Name on card").fill("Ada Reader")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Subscribe").click()
    expect(page).to_have_url(re.compile(r"/billing/checkout/success"))
    expect(page.locator("#checkout-status")).to_contain_text("Your subscription is active.")
    page.get_by_role("link", name="Open your subscription").click()
    expect(page.locator(".page-header [data-state]")).to_have_attribute("data-state", "active")
    sub_url = page.url

    # 7. a key, shown once
    page.goto(app_url)
    page.get_by_label("Key name").fill("laptop")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text().strip()
    expect(page.locator(".secret-once").first).to_contain_text("only time it is shown")
    shoot(page, "portal/application")

    # 8. calls through the real gateway
    with httpx.Client(base_url=demo["gateway"], timeout=10, trust_env=False) as gw:
        statuses = [gw.get("/reading-list/v1/books", headers={"apikey": key}).status_code]
        statuses += [
            gw.get("/reading-list/v1/books", headers={"apikey": key}).status_code
            for _ in range(CALLS - 1)
        ]
        assert statuses == [200] * CALLS

        # 9. usage and cost move, to the cent; the chart has the calls; Stripe agrees
        def counted() -> bool:
            page.goto(sub_url)
            return _stat(page, "calls") == str(CALLS)

        wait_until(counted, timeout=30, what="the calls to reach the usage page")
        assert _stat(page, "cost") == "$0.14"
        drawn = page.locator("#usage-chart").evaluate(
            "el => el.tollwayChart.data.slice(1).flat().reduce((a, b) => a + (b || 0), 0)"
        )
        assert drawn == CALLS

        def stripe_agrees() -> bool:
            page.goto(sub_url)
            box = page.locator('[data-upcoming="stripe"]')
            return box.count() == 1 and box.inner_text().strip() == "$0.14"

        wait_until(stripe_agrees, timeout=90, what="Stripe's upcoming invoice to show $0.14")
        assert page.locator('[data-upcoming="tollway"]').inner_text().strip() == "$0.14"
        shoot(page, "portal/subscription")
        page.goto("/portal/billing")
        expect(page.locator('[data-total="USD"]')).to_have_text("$0.14")
        shoot(page, "portal/billing")

        # 10. Manage opens Stripe's customer portal (the emulator's)
        page.goto(sub_url)
        page.get_by_role("button", name="Manage payment and invoices").click()
        expect(page).to_have_url(re.compile("^" + re.escape(demo["emulator"])))
        expect(page.get_by_role("button", name="Cancel now")).to_be_visible()

        # 11. cancel in the portal: the confirmation says what will be invoiced
        page.goto(sub_url)
        page.get_by_role("button", name="Cancel subscription").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(f"{CALLS} calls, $0.14 before tax — is invoiced now")
        dialog.get_by_role("button", name="Cancel subscription").click()
        expect(page.locator(".flashes")).to_contain_text("Subscription cancelled.")
        expect(page.locator(".page-header [data-state]")).to_have_attribute(
            "data-state", "cancelled"
        )
        wait_until(
            lambda: gw.get("/reading-list/v1/books", headers={"apikey": key}).status_code == 403,
            timeout=30,
            what="the gateway to refuse the cancelled subscription",
        )
