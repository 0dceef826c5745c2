"""Provisioning through the emulator over the SDK: idempotent, crash-safe, price changes."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from sqlalchemy import update

from stripe_emulator.testing import Emulator
from tests.support.rows import seed_world
from tollway.billing.stripe import StripeBillingEngine, make_client
from tollway.store.tables import plans

from .helpers import store_keys

PAYG = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}}
FLAT_AND_USAGE = {
    "flat_fee": "10.00",
    "usage": {
        "meter": "requests",
        "model": "graduated",
        "tiers": [{"up_to": 100, "unit_amount": "0.05"}, {"up_to": None, "unit_amount": "0.01"}],
    },
}


def _counts(client: stripe.StripeClient) -> tuple[int, int, int]:
    products = len(list(client.v1.products.list(params={"limit": 100}).auto_paging_iter()))
    prices = len(list(client.v1.prices.list(params={"limit": 100}).auto_paging_iter()))
    meters = len(list(client.v1.billing.meters.list(params={"limit": 100}).auto_paging_iter()))
    return products, prices, meters


def test_provisioning_twice_creates_nothing_twice(
    ctx: Any, emu: Emulator, stripe_client: stripe.StripeClient
) -> None:
    w = seed_world(ctx.engine, FLAT_AND_USAGE)
    store_keys(ctx, w, emu)
    service = ctx.billing.service
    first = service.provision_plan(w.api_id, w.plan_id)
    assert first is not None and first.flat_price_id and first.usage_price_id and first.meter_id
    assert len(first.created) == 4  # product, flat price, meter, usage price
    assert _counts(stripe_client) == (1, 2, 1)
    again = service.provision_plan(w.api_id, w.plan_id)
    assert again is not None and again.created == ()
    assert (again.flat_price_id, again.usage_price_id) == (
        first.flat_price_id,
        first.usage_price_id,
    )
    assert _counts(stripe_client) == (1, 2, 1)
    price = stripe_client.v1.prices.retrieve(first.usage_price_id)
    assert price.recurring is not None and price.recurring.meter == first.meter_id
    assert price.tiers_mode == "graduated"


class _CrashAfter(StripeBillingEngine):
    """Dies after creating the product (a crash halfway through provisioning)."""

    def _ensure_meter(self, spec: Any, created: list[str]) -> tuple[str, str]:
        raise RuntimeError("crash")


def test_provisioning_after_a_crash_halfway_reuses_what_exists(
    ctx: Any, emu: Emulator, stripe_client: stripe.StripeClient
) -> None:
    w = seed_world(ctx.engine, FLAT_AND_USAGE)
    store_keys(ctx, w, emu)
    rt = ctx.billing
    crashing = _CrashAfter(make_client(emu.api_key, base_url=emu.base_url))
    with pytest.raises(RuntimeError):
        rt.service.provision_plan(w.api_id, w.plan_id, engine=crashing)
    assert _counts(stripe_client) == (1, 1, 0)  # product and flat price made it
    done = rt.service.provision_plan(w.api_id, w.plan_id)
    assert done is not None
    assert _counts(stripe_client) == (1, 2, 1)
    assert set(done.created) == {done.meter_id, done.usage_price_id}


def test_price_change_creates_a_new_price_and_retires_the_old(
    ctx: Any, emu: Emulator, stripe_client: stripe.StripeClient
) -> None:
    w = seed_world(ctx.engine, PAYG)
    store_keys(ctx, w, emu)
    service = ctx.billing.service
    old = service.provision_plan(w.api_id, w.plan_id)
    assert old is not None and old.usage_price_id
    with ctx.engine.begin() as conn:
        conn.execute(
            update(plans)
            .where(plans.c.id == w.plan_id)
            .values(
                pricing={"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.03"}}
            )
        )
    new = service.provision_plan(w.api_id, w.plan_id)
    assert new is not None and new.usage_price_id != old.usage_price_id
    assert new.meter_id == old.meter_id and new.product_id == old.product_id
    assert new.retired_price_ids == (old.usage_price_id,)
    assert stripe_client.v1.prices.retrieve(old.usage_price_id).active is False
    fresh = stripe_client.v1.prices.retrieve(new.usage_price_id)
    assert fresh.active is True and fresh.unit_amount_decimal is not None
    assert str(fresh.unit_amount_decimal) == "3"
    assert service.provisioned(w.api_id, w.plan_id).usage_price_id == new.usage_price_id


def test_disabling_or_retiring_stops_selling_at_stripe(
    ctx: Any, emu: Emulator, admin: Any, stripe_client: stripe.StripeClient
) -> None:
    """Disabling a plan on an API, retiring the plan or retiring the API archives its
    Stripe prices and product; a live subscription on them keeps running; enabling the
    plan again puts them back on sale."""
    w = seed_world(ctx.engine, FLAT_AND_USAGE)
    store_keys(ctx, w, emu)
    plan = ctx.billing.service.provision_plan(w.api_id, w.plan_id)
    assert plan is not None and plan.flat_price_id and plan.usage_price_id
    prices = (plan.flat_price_id, plan.usage_price_id)
    customer = stripe_client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    live = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": p} for p in prices]}
    )

    def on_sale() -> tuple[bool, ...]:
        product = stripe_client.v1.products.retrieve(plan.product_id)
        return (product.active, *(stripe_client.v1.prices.retrieve(p).active for p in prices))

    assert on_sale() == (True, True, True)
    r = admin.put(f"/api/v1/apis/{w.api_id}/plans/{w.plan_id}", json={"enabled": False})
    assert r.status_code == 200, r.text
    assert on_sale() == (False, False, False)
    assert stripe_client.v1.subscriptions.retrieve(live.id).status == "active"
    assert stripe_client.v1.billing.meters.retrieve(plan.meter_id or "").status == "active"
    r = admin.put(f"/api/v1/apis/{w.api_id}/plans/{w.plan_id}", json={"enabled": True})
    assert r.status_code == 200 and on_sale() == (True, True, True)
    for state in ("deprecated", "retired"):
        r = admin.post(f"/api/v1/apis/{w.api_id}/lifecycle", json={"state": state})
        assert r.status_code == 200, r.text
    assert on_sale() == (False, False, False)
    assert stripe_client.v1.subscriptions.retrieve(live.id).status == "active"


def test_retiring_a_plan_archives_its_stripe_product(
    ctx: Any, emu: Emulator, admin: Any, stripe_client: stripe.StripeClient
) -> None:
    w = seed_world(ctx.engine, PAYG)
    store_keys(ctx, w, emu)
    plan = ctx.billing.service.provision_plan(w.api_id, w.plan_id)
    assert plan is not None and plan.usage_price_id
    assert admin.post(f"/api/v1/plans/{w.plan_id}/retire").status_code == 200
    assert stripe_client.v1.products.retrieve(plan.product_id).active is False
    assert stripe_client.v1.prices.retrieve(plan.usage_price_id).active is False
