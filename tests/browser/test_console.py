"""The publisher console in a real browser: one journey from sign-in to a published API
with a graduated plan whose preview matches hand-computed totals, then the subscriber,
operations and analytics pages; screenshots of each console page."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, expect

from stripe_emulator.testing import Emulator, running_emulator
from tests.support.rows import insert_usage, new_subscription, seed_world
from tests.support.servers import serve_in_thread
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

    # Stripe (the emulator), test mode
    page.get_by_role("link", name="Monetization").click()
    page.get_by_label("Secret or restricted key").fill(emu.api_key)
    page.get_by_label("Publishable key").fill(emu.publishable_key)
    page.get_by_label("Webhook signing secret").fill("whsec_browserjourney1")
    page.get_by_role("button", name="Connect Stripe").click()
    expect(page.locator(".flashes")).to_contain_text("Stripe is connected in test mode.")
    expect(page.get_by_test_id("stripe-mode")).to_have_text("Test")
    shoot(page, "console/stripe")

    # import the Reading List, deploy it to the demo upstream, check, publish
    page.get_by_role("link", name="APIs").click()
    page.get_by_label("OpenAPI file").set_input_files(str(READING_LIST))
    page.get_by_role("button", name="Import API").click()
    expect(page.locator(".flashes")).to_contain_text("imported with")
    with serve_in_thread(create_upstream()) as upstream:
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
    page.get_by_role("button", name="Enable on Reading List").click()
    expect(page.locator(".flashes")).to_contain_text("Plan enabled on the API.")
    shoot(page, "console/plan")
    page.get_by_role("link", name="Plans").click()
    shoot(page, "console/plans")
    page.goto(api_url)
    expect(page.locator(".badge[data-state=published]").first).to_be_visible()

    # a subscriber with usage in the ledger
    ctx = live_server.ctx
    world = seed_world(
        ctx.engine, {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"}}
    )
    sub_id = new_subscription(ctx.engine, world, state="active")
    now_ms = int(time.time() * 1000)
    insert_usage(ctx.engine, world, sub_id, [now_ms + i for i in range(1, 13)])
    page.get_by_role("link", name="Subscribers").click()
    expect(page.locator("td[data-label='Calls this period']").first).to_have_text("12")
    shoot(page, "console/subscribers")

    # analytics: the calls and the estimated revenue, then both move after more calls
    page.get_by_role("link", name="Analytics").click()
    group_calls = page.locator("#groups-table td[data-calls]")
    expect(group_calls).to_have_text(["12"])
    expect(page.locator("#revenue-table td[data-amount]")).to_have_text(["$0.12"])
    expect(page.locator("#revenue-table td[data-source]")).to_have_text(["Tollway estimate"])
    expect(page.locator("#calls-chart canvas")).to_be_visible()
    insert_usage(ctx.engine, world, sub_id, [now_ms + i for i in range(13, 19)])
    page.get_by_label("Group by").select_option("plan")
    page.get_by_role("button", name="Show").click()
    expect(group_calls).to_have_text(["18"])
    expect(page.locator("#groups-table td[data-label=Plan]")).to_have_text(["Pay-as-you-go"])
    expect(page.locator("#revenue-table td[data-amount]")).to_have_text(["$0.18"])
    shoot(page, "console/analytics")
    _no_sideways_scroll(page)
    page.get_by_role("link", name="Subscribers").click()
    page.locator(f"a[href='/console/subscribers/{sub_id}']").click()
    page.get_by_label("Reason").fill("abuse report")
    page.get_by_role("button", name="Block subscription").click()
    expect(page.locator(".flashes")).to_contain_text("The subscription is blocked.")
    shoot(page, "console/subscriber")

    # operations: publish now runs to its end
    page.get_by_role("link", name="Operations").click()
    page.get_by_role("button", name="Publish now").click()
    expect(page.get_by_test_id("job-state")).to_have_text("succeeded", timeout=20_000)
    expect(page.locator("#audit-log")).to_contain_text("abuse report")
    shoot(page, "console/operations")
    _no_sideways_scroll(page)
    page.get_by_role("link", name="Reconciliation report").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reconciliation")
    shoot(page, "console/reconciliation")

    # meters: test a definition on the ledger events above
    page.get_by_role("link", name="Meters").click()
    page.locator("#f-key").fill("payload-bytes")
    page.get_by_label("Metric").select_option("sum")
    page.get_by_label("Field").select_option("response_bytes")
    page.get_by_role("button", name="Test the meter").click()
    expect(page.get_by_test_id("trial-value")).to_have_text("1800")  # 18 calls x 100 bytes
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
