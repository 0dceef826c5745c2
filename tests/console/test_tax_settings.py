"""Tax in the console: a publisher turns Stripe Tax on (with tax ID and billing address
collection) on the Stripe settings page; the REST API then reports it; a bad value is
refused next to its field, and storing nothing."""

from __future__ import annotations

from typing import Any


def test_publisher_turns_stripe_tax_on_and_off(make_actor: Any, browser_for: Any) -> None:
    pub = make_actor("publisher")
    browser = browser_for(pub.email)
    page = browser.get("/console/settings/stripe")
    assert page.status_code == 200 and 'id="tax-title"' in page.text
    assert 'name="automatic_tax" value="true">' in page.text  # not checked
    bad = browser.post(
        "/console/settings/stripe/tax",
        {"automatic_tax": "true", "billing_address_collection": "sometimes"},
    )
    assert bad.status_code == 422 and 'id="f-billing_address_collection-error"' in bad.text
    assert pub.get("/api/v1/settings/tax").json()["automatic_tax"] is False
    on = {"automatic_tax": "true", "tax_id_collection": "true",
          "billing_address_collection": "required"}  # fmt: skip
    saved = browser.post("/console/settings/stripe/tax", on)
    assert saved.status_code == 303, saved.text
    page = browser.get("/console/settings/stripe")
    assert "Stripe Tax is on" in page.text
    assert 'name="automatic_tax" value="true" checked' in page.text
    assert pub.get("/api/v1/settings/tax").json() == {
        "automatic_tax": True,
        "tax_id_collection": True,
        "billing_address_collection": "required",
        "estimates": "calculated_by_stripe",
    }
    off = browser.post("/console/settings/stripe/tax", {"billing_address_collection": "auto"})
    assert off.status_code == 303
    assert pub.get("/api/v1/settings/tax").json()["estimates"] == "not_collected"
