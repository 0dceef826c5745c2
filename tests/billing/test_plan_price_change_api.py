"""Changing a monetized plan's price through the REST API creates a new Stripe price for
new subscriptions and deactivates the old one (existing subscribers move at renewal)."""

from __future__ import annotations

from typing import Any

import stripe

from stripe_emulator.testing import Emulator


def test_patch_pricing_creates_new_price_and_retires_old(
    emu: Emulator, admin: Any, make_actor: Any, stripe_client: stripe.StripeClient
) -> None:
    r = admin.put(
        "/api/v1/settings/stripe",
        json={
            "secret_key": emu.api_key,
            "publishable_key": emu.publishable_key,
            "webhook_secret": "whsec_test_secret_for_price_change",
        },
    )
    assert r.status_code == 200, r.text
    pub = make_actor("publisher")
    api = pub.post("/api/v1/apis", json={"name": "Books", "context": "books", "version": "v1"})
    assert api.status_code == 201, api.text
    plan = pub.post(
        "/api/v1/plans",
        json={
            "name": "Metered",
            "currency": "USD",
            "pricing": {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}},
        },
    ).json()
    r = pub.put(f"/api/v1/apis/{api.json()['id']}/plans/{plan['id']}", json={"enabled": True})
    assert r.status_code == 200, r.text
    before = {p.id: p for p in stripe_client.v1.prices.list(params={"limit": 100}).data}
    assert [str(p.unit_amount_decimal) for p in before.values()] == ["2"]

    r = pub.patch(
        f"/api/v1/plans/{plan['id']}",
        json={"pricing": {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.03"}}},
    )
    assert r.status_code == 200, r.text

    after = stripe_client.v1.prices.list(params={"limit": 100}).data
    active = [p for p in after if p.active]
    assert [str(p.unit_amount_decimal) for p in active] == ["3"]
    old = [p for p in after if p.id in before]
    assert len(old) == 1 and old[0].active is False

    # Doing it again with the same price creates nothing new.
    r = pub.patch(
        f"/api/v1/plans/{plan['id']}",
        json={"pricing": {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.03"}}},
    )
    assert r.status_code == 200, r.text
    assert len(stripe_client.v1.prices.list(params={"limit": 100}).data) == len(after)
