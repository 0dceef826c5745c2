"""The console's sign-in, who may enter, and the Stripe connection page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stripe_emulator.testing import Emulator
from tollway.billing.stripe.keys import REQUIRED_PERMISSIONS
from tollway.store.billing_tables import stripe_accounts


def test_sign_in_redirects_to_next_and_refuses_wrong_password(
    make_actor: Any, browser_for: Any
) -> None:
    pub = make_actor("publisher")
    browser = browser_for()
    first = browser.get("/console/settings/stripe")
    assert first.status_code == 303
    assert first.headers["location"] == "/console/sign-in?next=/console/settings/stripe"
    browser.get("/console/sign-in?next=/console/settings/stripe")
    wrong = browser.post(
        "/console/sign-in",
        {"email": pub.email, "password": "not it", "next": "/console/settings/stripe"},
    )
    assert wrong.status_code == 422
    assert "Wrong email or password." in wrong.text
    ok = browser.post(
        "/console/sign-in",
        {"email": pub.email, "password": "correct horse battery", "next": "//evil.example"},
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/console"
    home = browser.get("/console")
    assert home.status_code == 200 and "Stripe is not connected" in home.text


def test_consumer_is_refused_and_unknown_pages_are_404(make_actor: Any, browser_for: Any) -> None:
    consumer = make_actor("consumer")
    browser = browser_for(consumer.email)
    refused = browser.get("/console")
    assert refused.status_code == 403 and "developer portal" in refused.text
    publisher = browser_for(make_actor("publisher").email)
    assert publisher.get("/console/no-such-page").status_code == 404


def test_publisher_connects_stripe_sees_test_mode_and_disconnects(
    make_actor: Any, browser_for: Any, emu: Emulator, ctx: Any
) -> None:
    pub = make_actor("publisher")
    browser = browser_for(pub.email)
    page = browser.get("/console/settings/stripe")
    assert "http://127.0.0.1:20001/webhooks/stripe" in page.text
    assert "checkout.session.completed" in page.text
    assert all(name in page.text for name in REQUIRED_PERMISSIONS)
    bad = browser.post(
        "/console/settings/stripe",
        {
            "secret_key": "sk_test_notarealkey123",
            "publishable_key": emu.publishable_key,
            "webhook_secret": "nope",
        },
    )
    assert bad.status_code == 422
    assert "is not accepted by Stripe" in bad.text or "webhook signing secret" in bad.text
    ok = browser.post(
        "/console/settings/stripe",
        {
            "secret_key": emu.api_key,
            "publishable_key": emu.publishable_key,
            "webhook_secret": "whsec_consoletest123",
        },
    )
    assert ok.status_code == 303, ok.text
    page = browser.get("/console/settings/stripe")
    assert "Stripe is connected in test mode." in page.text
    assert 'data-testid="stripe-mode">Test<' in page.text
    assert emu.api_key not in page.text and "whsec_consoletest123" not in page.text
    gone = browser.post("/console/settings/stripe/disconnect")
    assert gone.status_code == 303
    with ctx.engine.connect() as conn:
        assert conn.execute(select(stripe_accounts)).first() is None


def test_restricted_key_missing_permissions_are_named(
    make_actor: Any, browser_for: Any, emu: Emulator
) -> None:
    granted = [p for p in REQUIRED_PERMISSIONS if p != "rak_invoice_write"]
    key = emu.restricted_key(granted)
    browser = browser_for(make_actor("publisher").email)
    browser.get("/console/settings/stripe")
    refused = browser.post(
        "/console/settings/stripe",
        {
            "secret_key": key,
            "publishable_key": emu.publishable_key,
            "webhook_secret": "whsec_consoletest123",
        },
    )
    assert refused.status_code == 422
    assert "lacks permission(s) Tollway needs: rak_invoice_write" in refused.text
    assert 'aria-invalid="true"' in refused.text
