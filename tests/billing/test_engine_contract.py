"""One contract suite for the BillingEngine seam, run against the in-memory engine, the
Stripe engine through the emulator (over the SDK) and — opt-in — the Stripe engine
against real Stripe test mode.

The real-Stripe run needs ``STRIPE_TEST_SECRET_KEY`` (a ``sk_test_``/``rk_test_`` key;
live keys are refused) and is skipped otherwise and whenever ``CI`` is set, so it never
runs in CI. It creates uniquely named products, prices, meters and customers in that
account and archives the products afterwards. Steps that need a person (paying on
Checkout's hosted page) are skipped there.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal

import pytest

from stripe_emulator.testing import Emulator
from tests.support.waiting import wait_until
from tollway.billing.engine import BillingEngine, MeterPush, PlanBillingSpec, UsagePriceSpec
from tollway.billing.memory import InMemoryBillingEngine
from tollway.billing.stripe import StripeBillingEngine, convert, make_client

from .helpers import pay_checkout

# Stripe's processing lag is on (the emulator's ``realistic_delays``): usage read back
# is waited for, never assumed.


@dataclass
class Harness:
    engine: BillingEngine
    pay: Callable[[str, str], None]  # (session id, url)
    now: int
    run: str = "c"  # makes names unique on a real Stripe account


def _real_stripe_key() -> str:
    key = os.environ.get("STRIPE_TEST_SECRET_KEY", "")
    if not key or os.environ.get("CI"):
        pytest.skip("real Stripe test mode: set STRIPE_TEST_SECRET_KEY (never in CI)")
    if not key.startswith(("sk_test_", "rk_test_")):
        pytest.fail("STRIPE_TEST_SECRET_KEY must be a test-mode key (sk_test_/rk_test_)")
    return key


def _pay_by_hand(sid: str, url: str) -> None:
    pytest.skip("paying on Stripe Checkout's hosted page needs a person")


@pytest.fixture(params=["memory", "stripe", "real-stripe"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        mem = InMemoryBillingEngine(now=int(time.time()))

        def complete(sid: str, url: str) -> None:
            mem.complete_checkout(sid)

        yield Harness(mem, complete, mem.now)
        return
    if request.param == "real-stripe":
        engine = StripeBillingEngine(make_client(_real_stripe_key()))
        run = uuid.uuid4().hex[:10]
        yield Harness(engine, _pay_by_hand, int(time.time()), run)
        _archive_products(engine, run)
        return
    request.getfixturevalue("realistic_delays")
    emu: Emulator = request.getfixturevalue("emu")
    stripe_engine = StripeBillingEngine(make_client(emu.api_key, base_url=emu.base_url))

    def pay(sid: str, url: str) -> None:
        assert pay_checkout(url).status_code == 303

    yield Harness(stripe_engine, pay, int(time.time()))


def _archive_products(engine: StripeBillingEngine, run: str) -> None:
    for product in engine.client.v1.products.list(params={"limit": 100}).auto_paging_iter():
        plan = convert.meta(product.metadata).get("tollway_plan_id")
        if plan == f"plan_{run}" and product.active:
            engine.retire_plan(product.id)
    for meter in engine.client.v1.billing.meters.list(params={"limit": 100}).auto_paging_iter():
        if f".plan_{run}." in meter.event_name and meter.status == "active":
            engine.client.v1.billing.meters.deactivate(meter.id)


def spec(h: Harness, unit: str = "2", flat: int = 500) -> PlanBillingSpec:
    return PlanBillingSpec(
        plan_id=f"plan_{h.run}",
        api_id=f"api_{h.run}",
        name="Contract — Plan",
        currency="USD",
        interval="month",
        interval_count=1,
        flat_fee_minor=flat,
        usage=UsagePriceSpec("requests", "sum", "per_unit", unit_amount_minor=Decimal(unit)),
    )


def test_provisioning_is_idempotent_and_price_changes_retire(harness: Harness) -> None:
    e = harness.engine
    first = e.provision_plan(spec(harness))
    assert first.flat_price_id and first.usage_price_id and first.meter_id and first.created
    again = e.provision_plan(spec(harness))
    assert again.created == () and again.usage_price_id == first.usage_price_id
    changed = e.provision_plan(spec(harness, unit="3"))
    assert changed.usage_price_id != first.usage_price_id
    assert changed.flat_price_id == first.flat_price_id
    assert changed.retired_price_ids == (first.usage_price_id,)
    assert changed.meter_id == first.meter_id


def test_customer_checkout_usage_preview_cancel(harness: Harness) -> None:
    e = harness.engine
    plan = e.provision_plan(spec(harness))
    customer = e.ensure_customer(f"usr_{harness.run}", "c@example.com", "C", None)
    assert e.ensure_customer(f"usr_{harness.run}", None, None, customer) == customer
    session = e.start_checkout(
        subscription_id=f"sub_t{harness.run}",
        customer_id=customer,
        plan=plan,
        success_url="http://127.0.0.1/ok",
        cancel_url="http://127.0.0.1/no",
    )
    info = e.get_checkout(session.id)
    assert (
        info.status == "open"
        and not info.is_paid
        and info.client_reference_id == f"sub_t{harness.run}"
    )
    harness.pay(session.id, session.url)
    info = e.get_checkout(session.id)
    assert info.is_paid and info.subscription_id
    sub = e.get_subscription(info.subscription_id)
    assert (
        sub.status == "active" and sub.metadata["tollway_subscription_id"] == f"sub_t{harness.run}"
    )
    assert set(sub.price_ids) == {plan.flat_price_id, plan.usage_price_id}
    assert plan.meter_event_name and plan.meter_id
    ts = int(time.time()) + 1  # inside the subscription's first period
    ident = f"id_1_{harness.run}"
    push = MeterPush(ident, plan.meter_event_name, customer, 7, ts)
    assert e.push_usage([push]).accepted == (ident,)
    assert e.push_usage([push]).accepted == (ident,)  # a repeat is accepted, not counted
    start = ts - ts % 60
    meter_id = plan.meter_id
    wait_until(
        lambda: e.meter_total(meter_id, customer, start, start + 120) == 7,
        what="Stripe to count the meter event",
    )
    preview = e.preview_invoice(customer, sub.id)
    assert preview is not None and preview.total_minor == 500 + 14
    assert e.portal_url(customer, "http://127.0.0.1/back")
    e.cancel_subscription(sub.id)
    e.cancel_subscription(sub.id)  # idempotent
    assert e.get_subscription(sub.id).status == "canceled"


def test_expired_checkout(harness: Harness) -> None:
    e = harness.engine
    plan = e.provision_plan(spec(harness))
    customer = e.ensure_customer(f"usr_x{harness.run}", None, None, None)
    session = e.start_checkout(
        subscription_id=f"sub_x{harness.run}",
        customer_id=customer,
        plan=plan,
        success_url="http://127.0.0.1/ok",
        cancel_url="http://127.0.0.1/no",
    )
    e.expire_checkout(session.id)
    e.expire_checkout(session.id)
    assert e.get_checkout(session.id).status == "expired"


def two_meters(h: Harness, token_cents: str = "1") -> PlanBillingSpec:
    """Requests at 0.2 cents each and tokens at ``token_cents`` per started 1,000."""
    tokens = UsagePriceSpec(
        "tokens", "sum", "package", unit_amount_minor=Decimal(token_cents), package_size=1000
    )
    return replace(spec(h, unit="0.2", flat=0), more_usage=(tokens,))


def test_several_meters_one_meter_and_price_each(harness: Harness) -> None:
    e = harness.engine
    requests_only = e.provision_plan(spec(harness, unit="0.2", flat=0))
    customer = e.ensure_customer(f"usr_m{harness.run}", None, None, None)
    session = e.start_checkout(
        subscription_id=f"sub_m{harness.run}",
        customer_id=customer,
        plan=requests_only,
        success_url="http://127.0.0.1/ok",
        cancel_url="http://127.0.0.1/no",
    )
    harness.pay(session.id, session.url)
    sub_id = e.get_checkout(session.id).subscription_id
    assert sub_id is not None

    plan = e.provision_plan(two_meters(harness))  # tokens added to the plan
    assert [m.meter_key for m in plan.meters] == ["requests", "tokens"]
    assert len({m.meter_id for m in plan.meters}) == 2
    assert len({m.event_name for m in plan.meters}) == 2
    assert plan.usage_price_ids == tuple(m.price_id for m in plan.meters)
    assert plan.meters[0].price_id == requests_only.usage_price_id  # unchanged: kept
    assert plan.usage_price_id == plan.meters[0].price_id  # the first, as with one meter
    again = e.provision_plan(two_meters(harness))
    assert again.created == () and again.meters == plan.meters
    # at renewal the subscription gets the new meter's price
    assert e.move_to_prices(sub_id, None, plan.usage_prices) is True
    assert set(e.get_subscription(sub_id).price_ids) == set(plan.usage_price_ids)

    changed = e.provision_plan(two_meters(harness, token_cents="2"))
    assert changed.retired_price_ids == (plan.meters[1].price_id,)  # only the tokens price
    assert changed.meters[0] == plan.meters[0]
    assert changed.meters[1].meter_id == plan.meters[1].meter_id  # the same meter
    # at renewal each metered item moves to the current price on its own meter
    assert e.move_to_prices(sub_id, None, changed.usage_prices) is True
    assert sorted(e.get_subscription(sub_id).price_ids) == sorted(changed.usage_price_ids)
    assert e.move_to_prices(sub_id, None, changed.usage_prices) is False

    session = e.start_checkout(
        subscription_id=f"sub_n{harness.run}",
        customer_id=e.ensure_customer(f"usr_n{harness.run}", None, None, None),
        plan=changed,
        success_url="http://127.0.0.1/ok",
        cancel_url="http://127.0.0.1/no",
    )
    harness.pay(session.id, session.url)
    new_sub = e.get_checkout(session.id).subscription_id
    assert new_sub is not None  # Checkout puts every metered price on the subscription
    assert sorted(e.get_subscription(new_sub).price_ids) == sorted(changed.usage_price_ids)
    e.cancel_subscription(sub_id)
    e.cancel_subscription(new_sub)
