"""Plans in the console: the preview table is the pricing core's rating (checked against
hand-computed totals), errors land on the field, a price change names who it affects,
enabling on an API and retiring."""

from __future__ import annotations

import re
from typing import Any

from tests.console.test_apis import _import

GRADUATED = {
    "name": "Graduated",
    "currency": "USD",
    "billing_interval": "month",
    "pricing.flat_fee": "5.00",
    "pricing.usage.model": "graduated",
    "pricing.usage.meter": "requests",
    "pricing.usage.tiers.0.up_to": "1,000",
    "pricing.usage.tiers.0.unit_amount": "0",
    "pricing.usage.tiers.1.up_to": "10000",
    "pricing.usage.tiers.1.unit_amount": "0.002",
    "pricing.usage.tiers.2.unit_amount": "0.001",
    "rate_limit_count": "50",
    "rate_limit_per": "second",
    "quota_limit": "2000000",
    "quota_mode": "overage",
}
# flat 5.00; 0-1,000 free; 1,001-10,000 at 0.002 (18.00); the rest at 0.001
EXPECTED = ["$5.00", "$5.00", "$23.00", "$113.00", "$1,013.00"]


def _totals(html: str) -> list[str]:
    table = html.split('id="preview-table"', 1)[1].split("</table>", 1)[0]
    return re.findall(
        r'data-label="Total" class="num"><data class="money" value="[^"]*">([^<]+)<', table
    )


def test_preview_matches_hand_computed_totals(make_actor: Any, browser_for: Any) -> None:
    browser = browser_for(make_actor("publisher").email)
    browser.get("/console/plans/new")
    fragment = browser.post("/console/plans/preview", GRADUATED, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert _totals(fragment.text) == EXPECTED
    unit = browser.post(
        "/console/plans/preview",
        {
            "currency": "USD",
            "pricing.flat_fee": "0",
            "pricing.included_units": "1000",
            "pricing.usage.model": "package",
            "pricing.usage.unit_amount": "0.50",
            "pricing.usage.package_size": "1000",
        },
        headers={"HX-Request": "true"},
    )
    # 1,000 included, then 0.50 per started package of 1,000
    assert _totals(unit.text) == ["$0.00", "$0.00", "$4.50", "$49.50", "$499.50"]


def test_errors_land_on_the_field(make_actor: Any, browser_for: Any) -> None:
    browser = browser_for(make_actor("publisher").email)
    browser.get("/console/plans/new")
    bad = dict(GRADUATED, **{"pricing.usage.tiers.1.unit_amount": "abc"})
    refused = browser.post("/console/plans", bad)
    assert refused.status_code == 422
    error = re.search(r'id="f-pricing-usage-tiers-1-unit_amount-error">(.*?)</p>', refused.text)
    assert error, refused.text
    assert browser.get("/console/plans").text.count("/console/plans/pln") == 0


def test_create_enable_change_price_and_retire(make_actor: Any, browser_for: Any) -> None:
    browser = browser_for(make_actor("publisher").email)
    api_id = _import(browser)
    browser.get("/console/plans/new")
    created = browser.post("/console/plans", GRADUATED)
    assert created.status_code == 303, created.text
    plan_url = created.headers["location"]
    page = browser.get(plan_url)
    assert "Plan “Graduated” created." in page.text
    assert _totals(page.text) == EXPECTED
    assert "50 calls per second" in page.text and "quota 2,000,000 (overage)" in page.text
    enabled = browser.post(f"{plan_url}/apis/{api_id}", {"enabled": "true"})
    assert enabled.status_code == 303
    page = browser.get(plan_url)
    assert "Plan enabled on the API." in page.text
    assert "on 1 API(s)" in page.text
    changed = browser.post(
        f"{plan_url}/pricing",
        {"currency": "USD", "pricing.usage.model": "unit", "pricing.usage.unit_amount": "0.01"},
    )
    assert changed.status_code == 303, changed.text
    page = browser.get(plan_url)
    assert "New price saved as v2. 0 live subscription(s) move to it at their next renewal" in (
        page.text
    )
    assert 'data-version="2">v2' in page.text and 'data-version="1">v1<' in page.text
    assert _totals(page.text) == ["$0.00", "$10.00", "$100.00", "$1,000.00", "$10,000.00"]
    retired = browser.post(f"{plan_url}/retire")
    assert retired.status_code == 303
    assert "retired: no new subscriptions" in browser.get(plan_url).text


def test_a_plan_of_several_meters_is_shown_read_only(make_actor: Any, browser_for: Any) -> None:
    pub = make_actor("publisher")
    meter = {"key": "tokens", "metric": {"aggregation": "sum", "field": "usage_value"}}
    assert pub.post("/api/v1/meters", json={"definition": meter}).status_code == 201
    body = {
        "name": "AI",
        "currency": "USD",
        "pricing": {
            "usage": [
                {"meter": "requests", "model": "unit", "unit_amount": "0.002"},
                {
                    "meter": "tokens",
                    "model": "package",
                    "unit_amount": "0.01",
                    "package_size": 1000,
                },
            ]
        },
    }
    r = pub.post("/api/v1/plans", json=body)
    assert r.status_code == 201, r.text
    page = browser_for(pub.email).get(f"/console/plans/{r.json()['id']}")
    assert page.status_code == 200
    assert "requests: $0.002 per unit of requests" in page.text
    assert "tokens: $0.01 per 1,000 tokens" in page.text
    assert "Save the new price" not in page.text  # the form edits one usage price
    # the preview counts that many units of every meter: 1,000 -> $2.00 + $0.01
    assert _totals(page.text) == ["$0.00", "$2.01", "$20.10", "$201.00", "$2,010.00"]
