"""The publisher console in a real browser: one journey from sign-in to a published API
with a graduated plan whose preview matches hand-computed totals; then a consumer pays in
Checkout and calls through a real `tollway gateway`, and the publisher sees the
subscriber, the usage chart and the revenue move, publishes the usage and sees the
ledger and Stripe agree, blocks the subscriber (the gateway refuses it); screenshots of
each console page."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Page, expect

from stripe_emulator.testing import Emulator, running_emulator
from tests.billing.helpers import pay_checkout
from tests.billing.published import running_gateway
from tests.support.servers import serve_in_thread
from tests.support.waiting import wait_until
from tollway.demo.upstream import create_upstream

from .harness import PHONE, LiveServer, Shoot

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"  # noqa: S105 - a test password
READING_LIST = Path(__file__).parents[2] / "src/tollway/demo/reading-list.yaml"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with running_emulator(tick_interval=0.2, portal_configured=True, rate_limit_per_s=None) as e:
        yield e


@pytest.fixture
def live_server(tmp_path: Path, database_url: str, emu: Emulator) -> Iterator[LiveServer]:
    """The control plane with the Stripe emulator as Stripe (overrides the package's)."""
    from tollway.control_plane import create_app
    from tollway.runtime import build_context
    from tollway.settings import load_settings

    emu.reset()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        ssrf_allow=["127.0.0.1/32"],
        stripe_api_base=emu.base_url,
        public_url=f"http://127.0.0.1:{port}",
        # the emulator counts meter events within seconds: compare every pushed window
        stripe_meter_lag_s=0,
    )
    ctx = build_context(settings, migrate=False)
    app = create_app(ctx)
    app.state.pages.make_strict()
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, ctx)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        ctx.engine.dispose()


def _publisher(live_server: LiveServer) -> str:
    from tollway.store import users_repo

    ctx = live_server.ctx
    now = ctx.clock.now()
    with ctx.tx() as conn:
        org = users_repo.ensure_default_org(conn, now)
        users_repo.create_user(
            conn,
            email="pub@example.com",
            name="Pub",
            role="publisher",
            password=PASSWORD,
            organization_id=org,
            now=now,
        )
    return "pub@example.com"


def _no_sideways_scroll(page: Page) -> None:
    page.set_viewport_size(PHONE)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    page.set_viewport_size({"width": 1280, "height": 800})


def _consumer_pays_and_gets_a_key(base: str, api_id: str, plan_id: str) -> str:
    """A consumer signs up, subscribes to the plan, pays in Stripe Checkout (the
    emulator's hosted page) and creates an API key, all through the REST API."""
    with httpx.Client(base_url=base, timeout=30, trust_env=False) as http:
        r = http.post(
            "/api/v1/auth/signup",
            json={"email": "reader@example.com", "name": "Reader", "password": PASSWORD},
        )
        assert r.status_code == 201, r.text
        http.cookies.clear()
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        app = http.post("/api/v1/applications", json={"name": "reader-app"}, headers=auth)
        assert app.status_code == 201, app.text
        body = {"application_id": app.json()["id"], "api_id": api_id, "plan_id": plan_id}
        sub = http.post("/api/v1/subscriptions", json=body, headers=auth)
        assert sub.status_code == 201, sub.text
        paid = pay_checkout(sub.json()["checkout_url"])
        assert paid.status_code == 303
        assert http.get(paid.headers["location"]).status_code == 200
        state = http.get(f"/api/v1/subscriptions/{sub.json()['id']}", headers=auth)
        assert state.json()["state"] == "active"
        key = http.post(f"/api/v1/applications/{app.json()['id']}/keys", json={}, headers=auth)
        assert key.status_code == 201, key.text
        return str(key.json()["key"])


def _calls(gateway: str, path: str, key: str, count: int) -> None:
    """``count`` successful calls through the gateway (the first once it knows the key)."""
    with httpx.Client(base_url=gateway, timeout=10, trust_env=False) as gw:

        def first() -> bool:
            return gw.get(path, headers={"apikey": key}).status_code == 200

        wait_until(first, timeout=30, what="the gateway to admit the new key")
        statuses = [gw.get(path, headers={"apikey": key}).status_code for _ in range(count - 1)]
        assert statuses == [200] * (count - 1)


def _gateway_path(live_server: LiveServer, api_id: str) -> str:
    """Where the gateway serves the API: /<context>/<version>."""
    from sqlalchemy import select

    from tollway.store.tables import apis

    with live_server.ctx.engine.connect() as conn:
        row = conn.execute(select(apis.c.context, apis.c.version).where(apis.c.id == api_id)).one()
    return f"/{row.context}/{row.version}"


def _shows(page: Page, selector: str, texts: list[str], what: str, timeout: float = 30) -> None:
    """Reload until ``selector`` shows ``texts`` (the gateway flushes its calls to the
    ledger on its own schedule); a failure says what the page showed last."""
    seen: list[list[str]] = []

    def shown() -> bool:
        page.wait_for_load_state()  # never reload a page that is still navigating
        page.reload()
        seen.append(page.locator(selector).all_inner_texts())
        return seen[-1] == texts

    try:
        wait_until(shown, timeout=timeout, what=what)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}; the page showed {seen[-1:]}: {page.locator('main').inner_text()[:600]}"
        ) from None


def test_publisher_journey(
    page: Page, live_server: LiveServer, emu: Emulator, shoot: Shoot
) -> None:
    email = _publisher(live_server)
    page.goto("/console")
    expect(page).to_have_url(f"{live_server.url}/console/sign-in?next=/console")
    shoot(page, "console/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Stripe is not connected")).to_be_visible()
    shoot(page, "console/overview")

    # Stripe (the emulator), test mode, with the webhook endpoint the page names
    page.get_by_role("link", name="Monetization").click()
    endpoint = emu.client().v1.webhook_endpoints.create(
        params={"url": f"{live_server.url}/webhooks/stripe", "enabled_events": ["*"]}
    )
    page.get_by_label("Secret or restricted key").fill(emu.api_key)
    page.get_by_label("Publishable key").fill(emu.publishable_key)
    page.get_by_label("Webhook signing secret").fill(str(endpoint.secret))
    page.get_by_role("button", name="Connect Stripe").click()
    expect(page.locator(".flashes")).to_contain_text("Stripe is connected in test mode.")
    expect(page.get_by_test_id("stripe-mode")).to_have_text("Test")
    shoot(page, "console/stripe")

    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(serve_in_thread(create_upstream()))
        # import the Reading List, deploy it to the demo upstream, check, publish
        page.get_by_role("link", name="APIs").click()
        page.get_by_label("OpenAPI file").set_input_files(str(READING_LIST))
        page.get_by_role("button", name="Import API").click()
        expect(page.locator(".flashes")).to_contain_text("imported with")
        page.get_by_label("Production upstream URL").fill(upstream.url)
        page.get_by_role("button", name="Deploy to production").click()
        expect(page.locator(".flashes")).to_contain_text("Deployed to production")
        page.get_by_role("button", name="Check production connectivity").click()
        expect(page.locator("#check-production")).to_contain_text("Reachable")
        page.get_by_role("button", name="Publish").click()
        expect(page.locator(".flashes")).to_contain_text("is now published")
        shoot(page, "console/api")
        api_url = page.url
        page.get_by_role("link", name="APIs").click()
        shoot(page, "console/apis")

        # a graduated plan: the live preview against hand-computed totals
        page.get_by_role("link", name="Plans").click()
        page.get_by_role("link", name="New plan").click()
        page.locator("#f-name").fill("Graduated")
        page.get_by_label("Flat fee per period").fill("5.00")
        page.get_by_label("Usage price").select_option("graduated")
        page.get_by_label("Unit amount", exact=True).fill("")
        page.get_by_label("Tier 1 up to").fill("1000")
        page.get_by_label("Tier 1 unit amount").fill("0")
        page.get_by_label("Tier 2 up to").fill("10000")
        page.get_by_label("Tier 2 unit amount").fill("0.002")
        page.get_by_label("Tier 3 unit amount").fill("0.001")
        totals = page.locator("#preview-table td[data-label=Total]")
        # 5.00 flat; 1,000 free; 9,000 at 0.002 = 18.00; the rest at 0.001
        expect(totals).to_have_text(["$5.00", "$5.00", "$23.00", "$113.00", "$1,013.00"])
        shoot(page, "console/plan-new")
        page.get_by_role("button", name="Create plan").click()
        expect(page.locator(".flashes")).to_contain_text("Plan “Graduated” created.")
        plan_id = page.url.rstrip("/").rsplit("/", 1)[-1]
        page.get_by_role("button", name="Enable on Reading List").click()
        expect(page.locator(".flashes")).to_contain_text("Plan enabled on the API.")
        shoot(page, "console/plan")
        page.get_by_role("link", name="Plans").click()
        shoot(page, "console/plans")
        page.goto(api_url)
        expect(page.locator(".badge[data-state=published]").first).to_be_visible()

        # nothing earned yet
        page.get_by_role("link", name="Analytics").click()
        expect(page.locator("#revenue-table")).to_have_count(0)

        # a consumer pays for the plan in Checkout and calls through a real gateway
        gateway = stack.enter_context(running_gateway(live_server.ctx.settings))
        api_id = api_url.rstrip("/").rsplit("/", 1)[-1]
        key = _consumer_pays_and_gets_a_key(live_server.url, api_id, plan_id)
        books = _gateway_path(live_server, api_id) + "/books"
        _calls(gateway, books, key, 12)
        page.get_by_role("link", name="Subscribers").click()
        _shows(page, "td[data-label='Calls this period']", ["12"], "12 calls on the list")
        expect(page.locator("td[data-label='Plan']")).to_have_text(["Graduated v1"])
        shoot(page, "console/subscribers")

        # analytics: the calls, and the revenue Stripe invoiced (the first period's fee)
        page.get_by_role("link", name="Analytics").click()
        group_calls = page.locator("#groups-table td[data-calls]")
        expect(group_calls).to_have_text(["12"])
        _shows(page, "#revenue-table td[data-amount]", ["$5.00"], "the paid invoice")
        expect(page.locator("#revenue-table td[data-source]")).to_have_text(["Stripe invoices"])
        expect(page.locator("#calls-chart canvas")).to_be_visible()
        _calls(gateway, books, key, 6)
        page.get_by_label("Group by").select_option("plan")
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"group_by=plan"))
        _shows(page, "#groups-table td[data-calls]", ["18"], "18 calls on the chart")
        expect(page.locator("#groups-table td[data-label=Plan]")).to_have_text(["Graduated"])
        drawn = page.locator("#calls-chart").evaluate(
            "el => el.tollwayChart.data.slice(1).flat().reduce((a, b) => a + (b || 0), 0)"
        )
        assert drawn == 18
        shoot(page, "console/analytics")
        _no_sideways_scroll(page)

        # operations: publish now pushes the usage; the ledger and Stripe agree
        page.get_by_role("link", name="Operations").click()
        page.get_by_role("button", name="Publish now").click()
        expect(page.get_by_test_id("job-state")).to_have_text("succeeded", timeout=20_000)
        page.get_by_role("link", name="Reconciliation report").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Reconciliation")
        _shows(
            page,
            "#reconciliation td[data-label=Stripe]",
            ["18"],
            "Stripe to count the 18 calls",
            # Stripe's meter summaries are per whole minute: the minute of the calls is
            # compared once it is over
            timeout=90,
        )
        expect(page.locator("#reconciliation td[data-label=Ledger]")).to_have_text(["18"])
        expect(page.get_by_text("Ledger and Stripe agree")).to_be_visible()
        shoot(page, "console/reconciliation")

        # the subscriber: keys' last use, the paid invoice; block stops the calls
        page.get_by_role("link", name="Subscribers").click()
        page.locator("td[data-label=Consumer] a").first.click()
        expect(page.get_by_test_id("invoice-total").first).to_have_text("$5.00")
        expect(page.get_by_test_id("key-last-used")).not_to_have_text("never")
        page.get_by_label("Reason").fill("abuse report")
        page.get_by_role("button", name="Block subscription").click()
        expect(page.locator(".flashes")).to_contain_text("The subscription is blocked.")
        shoot(page, "console/subscriber")
        with httpx.Client(base_url=gateway, timeout=10, trust_env=False) as gw:
            wait_until(
                lambda: gw.get(books, headers={"apikey": key}).status_code == 403,
                timeout=30,
                what="the gateway to refuse the blocked subscription",
            )
        page.get_by_role("link", name="Operations").click()
        expect(page.locator("#audit-log")).to_contain_text("abuse report")
        shoot(page, "console/operations")
        _no_sideways_scroll(page)

        # meters: test a definition on the ledger events above
        page.get_by_role("link", name="Meters").click()
        page.locator("#f-key").fill("consumers")
        page.get_by_label("Metric").select_option("distinct")
        page.get_by_label("Field").select_option("consumer_id")
        page.get_by_role("button", name="Test the meter").click()
        expect(page.get_by_test_id("trial-value")).to_have_text("1")  # one consumer called
        shoot(page, "console/meters")


def test_a_consumer_is_turned_away(page: Page, live_server: LiveServer) -> None:
    from tollway.store import users_repo

    ctx = live_server.ctx
    now = ctx.clock.now()
    with ctx.tx() as conn:
        org = users_repo.ensure_default_org(conn, now)
        users_repo.create_user(
            conn,
            email="dev@example.com",
            name="Dev",
            role="consumer",
            password=PASSWORD,
            organization_id=org,
            now=now,
        )
    page.goto("/console/sign-in")
    page.get_by_label("Email").fill("dev@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.locator("main")).to_contain_text("developer portal")
