"""One contract suite for the BillingEngine seam, run against the in-memory engine and
the Stripe engine (through the emulator, over the SDK)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest

from stripe_emulator.testing import Emulator
from tests.support.waiting import wait_until
from tollway.billing.engine import BillingEngine, MeterPush, PlanBillingSpec, UsagePriceSpec
from tollway.billing.memory import InMemoryBillingEngine
from tollway.billing.stripe import StripeBillingEngine, make_client

from .helpers import pay_checkout

# Stripe's processing lag is on: usage read back is waited for, never assumed.
pytestmark = pytest.mark.usefixtures("realistic_delays")


@dataclass
class Harness:
    engine: BillingEngine
    pay: Callable[[str, str], None]  # (session id, url)
    now: int


@pytest.fixture(params=["memory", "stripe"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        mem = InMemoryBillingEngine(now=int(time.time()))

        def complete(sid: str, url: str) -> None:
            mem.complete_checkout(sid)

        return Harness(mem, complete, mem.now)
    emu: Emulator = request.getfixturevalue("emu")
    engine = StripeBillingEngine(make_client(emu.api_key, base_url=emu.base_url))

    def pay(sid: str, url: str) -> None:
        assert pay_checkout(url).status_code == 303

    return Harness(engine, pay, int(time.time()))


def spec(unit: str = "2", flat: int = 500) -> PlanBillingSpec:
    return PlanBillingSpec(
        plan_id="plan_c",
        api_id="api_c",
        name="Contract — Plan",
        currency="USD",
        interval="month",
        interval_count=1,
        flat_fee_minor=flat,
        usage=UsagePriceSpec("requests", "sum", "per_unit", unit_amount_minor=Decimal(unit)),
    )


def test_provisioning_is_idempotent_and_price_changes_retire(harness: Harness) -> None:
    e = harness.engine
    first = e.provision_plan(spec())
    assert first.flat_price_id and first.usage_price_id and first.meter_id and first.created
    again = e.provision_plan(spec())
    assert again.created == () and again.usage_price_id == first.usage_price_id
    changed = e.provision_plan(spec(unit="3"))
    assert changed.usage_price_id != first.usage_price_id
    assert changed.flat_price_id == first.flat_price_id
    assert changed.retired_price_ids == (first.usage_price_id,)
    assert changed.meter_id == first.meter_id


def test_customer_checkout_usage_preview_cancel(harness: Harness) -> None:
    e = harness.engine
    plan = e.provision_plan(spec())
    customer = e.ensure_customer("usr_c", "c@example.com", "C", None)
    assert e.ensure_customer("usr_c", None, None, customer) == customer
    session = e.start_checkout(
        subscription_id="sub_t",
        customer_id=customer,
        plan=plan,
        success_url="http://127.0.0.1/ok",
        cancel_url="http://127.0.0.1/no",
    )
    info = e.get_checkout(session.id)
    assert info.status == "open" and not info.is_paid and info.client_reference_id == "sub_t"
    harness.pay(session.id, session.url)
    info = e.get_checkout(session.id)
    assert info.is_paid and info.subscription_id
    sub = e.get_subscription(info.subscription_id)
    assert sub.status == "active" and sub.metadata["tollway_subscription_id"] == "sub_t"
    assert set(sub.price_ids) == {plan.flat_price_id, plan.usage_price_id}
    assert plan.meter_event_name and plan.meter_id
    ts = int(time.time()) + 1  # inside the subscription's first period
    push = MeterPush("id_1", plan.meter_event_name, customer, 7, ts)
    assert e.push_usage([push]).accepted == ("id_1",)
    assert e.push_usage([push]).accepted == ("id_1",)  # a repeat is accepted, not counted
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
    plan = e.provision_plan(spec())
    customer = e.ensure_customer("usr_x", None, None, None)
    session = e.start_checkout(
        subscription_id="sub_x",
        customer_id=customer,
        plan=plan,
        success_url="http://127.0.0.1/ok",
        cancel_url="http://127.0.0.1/no",
    )
    e.expire_checkout(session.id)
    e.expire_checkout(session.id)
    assert e.get_checkout(session.id).status == "expired"
