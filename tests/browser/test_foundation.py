"""The page foundation in a real browser, through the style guide at /_style."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tollway.web.styleguide import SAMPLE_CALLS

from .harness import PHONE, LiveServer, Shoot

pytestmark = pytest.mark.browser


def test_form_shows_each_error_next_to_its_field_and_keeps_what_was_typed(page: Page) -> None:
    page.goto("/_style")
    form = page.locator("form[action='/_style/form']")
    form.get_by_label("Calls a month").fill("lots")
    form.get_by_role("button", name="Create application").click()

    expect(page.locator("#f-name-error")).to_have_text(re.compile("This field is required"))
    expect(page.locator("#f-monthly_calls-error")).to_have_text(re.compile("whole number"))
    expect(page.locator("#f-contact_email-error")).to_be_visible()
    expect(page.get_by_label("Application name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Calls a month")).to_have_value("lots")
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Application name: This field is required.")
    summary.get_by_role("link", name=re.compile("whole number")).click()
    expect(page).to_have_url(re.compile("#f-monthly_calls$"))

    # a refusal from the service (InvalidInput at application.name) lands on the field too
    page.get_by_label("Application name").fill("taken")
    page.get_by_label("Contact email").fill("dev@example.com")
    page.get_by_label("Calls a month").fill("50000")
    page.get_by_label("I accept the API's terms of use").check()
    page.get_by_role("button", name="Create application").click()
    expect(page.locator("#f-name-error")).to_have_text(re.compile("with this name exists"))
    expect(page.locator(".field__error")).to_have_count(1)

    page.get_by_label("Application name").fill("Bookshelf")
    page.get_by_role("button", name="Create application").click()
    expect(page).to_have_url(re.compile("/_style$"))
    expect(page.locator(".flashes")).to_contain_text("Application “Bookshelf” created.")
    page.reload()
    expect(page.locator(".flashes .alert")).to_have_count(0)  # shown once


def test_a_form_with_a_wrong_csrf_token_is_refused_with_a_readable_page(page: Page) -> None:
    page.goto("/_style")
    page.locator("form[action='/_style/form'] input[name=csrf_token]").evaluate(
        "el => el.value = 'forged'"
    )
    page.get_by_label("Application name").fill("Bookshelf")
    with page.expect_response("**/_style/form") as answer:
        page.get_by_role("button", name="Create application").click()
    assert answer.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("This form has expired")

    # htmx requests carry the token in a header: the right one passes, none is refused
    page.goto("/_style")
    statuses = page.evaluate(
        """async () => {
            const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
            const send = (headers) => fetch('/_style/confirm', {method: 'POST', headers,
                                                                redirect: 'manual'});
            const good = await send({'X-CSRF-Token': token, 'HX-Request': 'true'});
            const bad = await send({'X-CSRF-Token': token.slice(1) + '0', 'HX-Request': 'true'});
            const none = await send({'HX-Request': 'true'});
            return [good.status, good.headers.get('HX-Redirect'), bad.status, none.status];
        }"""
    )
    assert statuses == [204, "/_style", 403, 403]


def test_the_chart_draws_the_series_it_was_given(page: Page) -> None:
    page.goto("/_style")
    chart = page.locator("#usage-chart")
    expect(chart.locator("canvas")).to_have_count(1)
    drawn = chart.evaluate("el => el.tollwayChart.data.map(s => Array.from(s))")
    assert drawn[1] == SAMPLE_CALLS
    assert drawn[2] == [v // 40 for v in SAMPLE_CALLS]
    painted = chart.locator("canvas").evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    )
    assert painted > 1000
    # the same numbers as a table, for screen readers
    page.get_by_text("Show the numbers").first.click()
    expect(page.locator("#usage-chart ~ details table")).to_contain_text("3,310")
    bars = page.locator("#revenue-chart").evaluate("el => Array.from(el.tollwayChart.data[1])")
    assert bars == [0, 490.0, 1234.56, 4000.0]


def test_the_copy_button_copies_the_code(page: Page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/_style")
    block = page.locator(".code-block")
    block.get_by_role("button", name="Copy").click()
    expect(block.get_by_role("button")).to_have_text("Copied")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == page.locator("#curl-example").inner_text().strip()
    assert copied.startswith("curl -H")


def test_error_pages_are_pages_not_stack_traces(page: Page) -> None:
    answer = page.goto("/_style/things/42")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.locator(".site-header")).to_contain_text("Tollway")

    answer = page.goto("/_style/no/such/page")
    assert answer is not None and answer.status == 404

    answer = page.goto("/_style/forbidden")
    assert answer is not None and answer.status == 403
    expect(page.locator("main")).to_contain_text("Only publishers can open the console.")

    answer = page.goto("/_style/boom")
    assert answer is not None and answer.status == 500
    expect(page.get_by_role("heading", level=1)).to_have_text("Something went wrong")
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and "internal detail" not in body
    expect(page.locator("code.reference")).to_have_text(re.compile(r"^[0-9a-f]{8}$"))


def test_a_page_that_needs_a_user_sends_to_sign_in_with_a_local_next(
    page: Page, live_server: LiveServer
) -> None:
    answer = page.request.get("/_style/private?tab=keys", max_redirects=0)
    assert answer.status == 303
    assert answer.headers["location"] == "/portal/sign-in?next=/_style/private%3Ftab%3Dkeys"


def test_phone_width_has_no_horizontal_scroll_and_tables_stack(page: Page) -> None:
    page.set_viewport_size(PHONE)
    page.goto("/_style")
    page.wait_for_function("() => document.querySelector('#usage-chart canvas') !== null")
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
    )
    assert widths[0] <= PHONE["width"] and widths[1] <= PHONE["width"], widths
    row = page.locator("#subscriptions tbody tr").first
    assert row.evaluate("el => getComputedStyle(el).display") == "block"
    label = row.locator("td").first.evaluate("el => getComputedStyle(el, '::before').content")
    assert label == '"API"'
    chart_width = page.locator("#usage-chart canvas").evaluate(
        "c => c.getBoundingClientRect().width"
    )
    assert chart_width <= PHONE["width"]


def test_the_confirmation_dialog_works_with_the_keyboard(page: Page) -> None:
    page.goto("/_style")
    opener = page.get_by_role("button", name="Cancel subscription")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Cancel the Reading List subscription?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("$9.64")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    opener.click()
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_be_hidden()
    opener.click()
    dialog.get_by_role("button", name="Cancel subscription").click()
    expect(page.locator(".flashes")).to_contain_text("Subscription cancelled")


def test_a_waiting_region_polls_until_the_server_says_done(page: Page) -> None:
    page.goto("/_style")
    status = page.locator("#payment-status")
    expect(status).to_contain_text("Waiting for payment confirmation")
    expect(status).to_contain_text("Payment received", timeout=15_000)
    expect(status.locator(".badge")).to_have_text("active")
    expect(status).not_to_have_attribute("hx-get", re.compile(".*"))


def test_the_skip_link_is_the_first_stop_and_leads_to_the_content(page: Page) -> None:
    page.goto("/_style")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.evaluate("el => el.getBoundingClientRect().top") >= 0
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_api_docs_render_our_operations_offline(page: Page) -> None:
    page.goto("/api/v1/docs")
    operation = page.locator(".opblock-summary-path", has_text="/api/v1/apis").first
    expect(operation).to_be_visible(timeout=15_000)
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Tollway control plane")


def test_style_guide_screenshots(page: Page, shoot: Shoot) -> None:
    page.goto("/_style")
    page.wait_for_function("() => document.querySelector('#usage-chart canvas') !== null")
    paths = shoot(page, "web/style-guide")
    assert all(p.stat().st_size > 10_000 for p in paths)
    page.goto("/_style/things/42")
    shoot(page, "web/not-found")
    page.goto("/api/v1/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
    shoot(page, "web/api-docs")
