"""Coupons and promotion codes, trials, tax, several meters, custom intervals and
mid-period price swaps, through the official SDK and test clocks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from stripe_emulator import Emulator

from .conftest import Receiver, card_customer, flat_price, pay_checkout
from .test_billing_cycle import DAY, FEB1, GRACE, T0, clock_customer, meter, report, usage_price


def _advance(client: stripe.StripeClient, clock: str, to: int) -> None:
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": to})


def _invoices(client: stripe.StripeClient, sub: str) -> list[stripe.Invoice]:
    """A subscription's invoices, oldest first."""
    return list(reversed(client.v1.invoices.list(params={"subscription": sub, "limit": 100}).data))


def _hybrid(client: stripe.StripeClient) -> tuple[str, str, str]:
    """A $49.00/month fee and $0.02 per call on the ``calls`` meter."""
    prod = client.v1.products.create(params={"name": "Weather API"}).id
    return prod, flat_price(client, prod, 4900), usage_price(client, prod, meter(client, "calls"),
                                                             unit_amount=2)  # fmt: skip


def test_percent_coupon_is_rounded_per_line_and_repeating_ends_on_schedule(
    client: stripe.StripeClient,
) -> None:
    """15 % off for 2 months on $49.00 + 1,501 calls at $0.02 ($30.02): $7.35 and $4.50
    (4.503 rounded per line) on the invoices of January 1 and February 1; the one of
    March 1 is full price."""
    _, fee, usage = _hybrid(client)
    coupon = client.v1.coupons.create(
        params={"percent_off": 15, "duration": "repeating", "duration_in_months": 2}
    )
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": fee}, {"price": usage}],
            "discounts": [{"coupon": coupon.id}],
        }  # fmt: skip
    )
    assert sub.discounts and len(sub.discounts) == 1
    first = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert (first.subtotal, first.total, first.amount_paid) == (4900, 4165, 4165)
    _advance(client, clock, T0 + 2 * DAY)
    report(client, "calls", cus, 1501, T0 + DAY)
    _advance(client, clock, FEB1 + GRACE)
    cycle = _invoices(client, sub.id)[-1]
    by_line = {li.amount: li.discount_amounts[0].amount for li in cycle.lines.data}
    assert by_line == {3002: 450, 4900: 735}
    assert cycle.total_discount_amounts and cycle.total_discount_amounts[0].amount == 1185
    assert (cycle.subtotal, cycle.total, cycle.amount_paid) == (7902, 6717, 6717)
    _advance(client, clock, FEB1 + 29 * DAY + GRACE)  # March 1: two months have passed
    last = _invoices(client, sub.id)
    assert [i.total_discount_amounts[0].amount if i.total_discount_amounts else 0
            for i in last] == [735, 1185, 0]  # fmt: skip
    assert client.v1.coupons.retrieve(coupon.id).times_redeemed == 1


def test_amount_off_is_spread_over_the_lines_and_once_ends_after_one_invoice(
    client: stripe.StripeClient,
) -> None:
    _, fee, usage = _hybrid(client)
    coupon = client.v1.coupons.create(
        params={"amount_off": 1000, "currency": "usd", "duration": "once"}
    )
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": fee}, {"price": usage}],
            "discounts": [{"coupon": coupon.id}],
        }  # fmt: skip
    )
    first = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert first.total == 3900  # $10 off the fee; the usage line is $0 (arrears)
    assert client.v1.subscriptions.retrieve(sub.id).discounts == []
    _advance(client, clock, T0 + 2 * DAY)
    report(client, "calls", cus, 1500, T0 + DAY)
    _advance(client, clock, FEB1 + GRACE)
    assert _invoices(client, sub.id)[-1].total == 4900 + 3000


def test_amount_off_split_in_proportion_by_largest_remainder(client: stripe.StripeClient) -> None:
    """$10 off $49.00 + $30.00: 620.25 and 379.75 cents -> $6.20 and $3.80."""
    _, fee, usage = _hybrid(client)
    coupon = client.v1.coupons.create(
        params={"amount_off": 1000, "currency": "usd", "duration": "forever"}
    )
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": fee}, {"price": usage}]}
    )
    client.v1.subscriptions.update(sub.id, params={"discounts": [{"coupon": coupon.id}]})
    _advance(client, clock, T0 + 2 * DAY)
    report(client, "calls", cus, 1500, T0 + DAY)
    preview = client.v1.invoices.create_preview(params={"subscription": sub.id})
    assert sorted(li.discount_amounts[0].amount for li in preview.lines.data) == [380, 620]
    assert preview.total == 6900
    _advance(client, clock, FEB1 + GRACE)
    assert _invoices(client, sub.id)[-1].total == 6900


def test_promotion_codes_and_their_restrictions(client: stripe.StripeClient) -> None:
    _, fee, _ = _hybrid(client)
    coupon = client.v1.coupons.create(params={"percent_off": 50, "duration": "forever"})
    code = client.v1.promotion_codes.create(
        params={
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "code": "LAUNCH50",
            "max_redemptions": 1,
        }  # fmt: skip
    )
    assert code.code == "LAUNCH50" and code.promotion.coupon == coupon.id
    cus = card_customer(client).id
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": fee}],
            "discounts": [{"promotion_code": code.id}],
        }  # fmt: skip
    )
    assert client.v1.invoices.retrieve(str(sub.latest_invoice)).total == 2450
    assert client.v1.promotion_codes.retrieve(code.id).times_redeemed == 1
    other = card_customer(client).id
    with pytest.raises(stripe.InvalidRequestError, match="cannot be redeemed"):
        client.v1.subscriptions.create(
            params={
                "customer": other,
                "items": [{"price": fee}],
                "discounts": [{"promotion_code": code.id}],
            }  # fmt: skip
        )
    with pytest.raises(stripe.InvalidRequestError, match="percent_off"):
        client.v1.coupons.create(params={"percent_off": 20, "amount_off": 5, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError, match="duration_in_months"):
        client.v1.coupons.create(params={"percent_off": 20, "duration": "repeating"})


def test_preview_with_discounts_for_a_new_subscription(client: stripe.StripeClient) -> None:
    _, fee, usage = _hybrid(client)
    coupon = client.v1.coupons.create(params={"percent_off": 10, "duration": "forever"})
    cus = card_customer(client).id
    preview = client.v1.invoices.create_preview(
        params={
            "customer": cus,
            "discounts": [{"coupon": coupon.id}],
            "subscription_details": {"items": [{"price": fee}, {"price": usage}]},
        }  # fmt: skip
    )
    assert (preview.subtotal, preview.total) == (4900, 4410)
    assert client.v1.coupons.retrieve(coupon.id).times_redeemed == 0  # a preview redeems nothing


def test_trial_bills_nothing_warns_three_days_before_and_then_invoices(
    client: stripe.StripeClient, endpoint: tuple[Receiver, str]
) -> None:
    receiver, _ = endpoint
    _, fee, usage = _hybrid(client)
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": fee}, {"price": usage}],
            "trial_period_days": 14,
        }  # fmt: skip
    )
    assert sub.status == "trialing" and sub.trial_end == T0 + 14 * DAY
    assert client.v1.invoices.retrieve(str(sub.latest_invoice)).total == 0
    _advance(client, clock, T0 + 2 * DAY)
    report(client, "calls", cus, 500, T0 + DAY)  # usage during the trial
    _advance(client, clock, T0 + 11 * DAY - 1)
    assert "customer.subscription.trial_will_end" not in {e["type"] for e in receiver.events()}
    _advance(client, clock, T0 + 11 * DAY)
    receiver.wait_types("customer.subscription.trial_will_end")
    _advance(client, clock, T0 + 14 * DAY + GRACE)
    report(client, "calls", cus, 100, T0 + 14 * DAY + 60)
    sub = client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "active" and sub.billing_cycle_anchor == T0 + 14 * DAY
    end = _invoices(client, sub.id)[-1]
    assert end.total == 4900  # the first paid month's fee; the trial's 500 calls at $0
    assert [li.amount for li in end.lines.data if "Trial period" in li.description] == [0]
    _advance(client, clock, T0 + 45 * DAY + GRACE)
    assert _invoices(client, sub.id)[-1].total == 4900 + 100 * 2


@pytest.mark.parametrize(("behavior", "status"), [("pause", "paused"), ("cancel", "canceled")])
def test_trial_end_without_a_payment_method(
    client: stripe.StripeClient, behavior: str, status: str
) -> None:
    _, fee, _ = _hybrid(client)
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": T0}).id
    cus = client.v1.customers.create(params={"test_clock": clock}).id
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": fee}],
            "trial_period_days": 7,
            "trial_settings": {"end_behavior": {"missing_payment_method": behavior}},
        }  # fmt: skip
    )
    _advance(client, clock, T0 + 8 * DAY)
    assert client.v1.subscriptions.retrieve(sub.id).status == status
    assert [i.total for i in _invoices(client, sub.id)] == [0]


def test_automatic_tax_at_the_configured_test_rate(
    emu: Emulator, client: stripe.StripeClient
) -> None:
    emu.configure(tax_rates={"DE": 19})
    _, fee, _ = _hybrid(client)
    coupon = client.v1.coupons.create(params={"percent_off": 10, "duration": "forever"})
    bare = card_customer(client).id
    with pytest.raises(stripe.InvalidRequestError, match="location"):
        client.v1.subscriptions.create(
            params={"customer": bare, "items": [{"price": fee}], "automatic_tax": {"enabled": True}}
        )
    de = card_customer(client, address={"country": "DE"}).id
    sub = client.v1.subscriptions.create(
        params={
            "customer": de,
            "items": [{"price": fee}],
            "automatic_tax": {"enabled": True},
            "discounts": [{"coupon": coupon.id}],
        }  # fmt: skip
    )
    inv = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert inv.automatic_tax.enabled and inv.automatic_tax.status == "complete"
    # $49.00 - $4.90 = $44.10, 19 % = $8.379 -> $8.38
    assert (inv.total_excluding_tax, inv.total, inv.amount_paid) == (4410, 5248, 5248)
    assert inv.total_taxes and inv.total_taxes[0].amount == 838
    us = card_customer(client, address={"country": "US"}).id  # no registration: zero tax
    preview = client.v1.invoices.create_preview(
        params={
            "customer": us,
            "automatic_tax": {"enabled": True},
            "subscription_details": {"items": [{"price": fee}]},
        }  # fmt: skip
    )
    assert preview.total == 4900 and preview.automatic_tax.status == "complete"


def test_several_meters_one_line_each_and_custom_interval(client: stripe.StripeClient) -> None:
    """Requests at $0.002 and tokens at $0.01 per 1,000, billed every 2 weeks."""
    prod = client.v1.products.create(params={"name": "AI API"}).id
    two_weeks = {"interval": "week", "interval_count": 2, "usage_type": "metered"}
    requests = client.v1.prices.create(
        params={
            "product": prod,
            "currency": "usd",
            "unit_amount_decimal": "0.2",
            "recurring": {**two_weeks, "meter": meter(client, "requests")},
        }  # fmt: skip
    ).id
    tokens = client.v1.prices.create(
        params={
            "product": prod,
            "currency": "usd",
            "unit_amount": 1,
            "transform_quantity": {"divide_by": 1000, "round": "up"},
            "recurring": {**two_weeks, "meter": meter(client, "tokens")},
        }  # fmt: skip
    ).id
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": requests}, {"price": tokens}]}
    )
    assert sub.items.data[0].current_period_end == T0 + 14 * DAY
    _advance(client, clock, T0 + 2 * DAY)
    report(client, "requests", cus, 12_345, T0 + DAY)
    report(client, "tokens", cus, 2_500_001, T0 + DAY)
    preview = client.v1.invoices.create_preview(params={"subscription": sub.id})
    assert sorted(li.amount for li in preview.lines.data) == [2469, 2501]
    _advance(client, clock, T0 + 14 * DAY + GRACE)
    cycle = _invoices(client, sub.id)[-1]
    assert cycle.total == 4970 and cycle.period_end == T0 + 14 * DAY
    assert (
        client.v1.subscriptions.retrieve(sub.id).items.data[0].current_period_end == T0 + 28 * DAY
    )


def _swap(client: stripe.StripeClient, mode: str, how: str) -> tuple[str, list[Any]]:
    """Basic ($10 + $0.01/call) to Pro ($50 + $0.005/call) on Jan 11: 1,000 calls before,
    4,000 after."""
    prod = client.v1.products.create(params={"name": "API"}).id
    calls = meter(client, "calls")
    basic_fee, pro_fee = flat_price(client, prod, 1000), flat_price(client, prod, 5000)
    basic_use = usage_price(client, prod, calls, unit_amount=1)
    pro_use = usage_price(client, prod, calls, unit_amount_decimal="0.5")
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus,
            "items": [{"price": basic_fee}, {"price": basic_use}],
            "billing_mode": {"type": mode},
        }  # fmt: skip
    )
    _advance(client, clock, T0 + 6 * DAY)
    report(client, "calls", cus, 1000, T0 + 5 * DAY)
    _advance(client, clock, T0 + 10 * DAY)
    items = sub.items.data
    client.v1.subscriptions.update(
        sub.id,
        params={
            "items": [{"id": items[0].id, "price": pro_fee}, {"id": items[1].id, "price": pro_use}],
            "proration_behavior": how,
        },  # fmt: skip
    )
    _advance(client, clock, T0 + 21 * DAY)
    report(client, "calls", cus, 4000, T0 + 20 * DAY)
    _advance(client, clock, FEB1 + GRACE)
    return sub.id, _invoices(client, sub.id)


def test_flexible_billing_mode_bills_the_old_usage_at_the_old_price(
    client: stripe.StripeClient,
) -> None:
    """Credit $10 x 21/31 = -$6.77, charge $50 x 21/31 = $33.87, old usage $10.00, new
    usage $20.00, February's fee $50.00: $107.10."""
    _, invoices = _swap(client, "flexible", "create_prorations")
    closing = invoices[-1]
    assert sorted(li.amount for li in closing.lines.data) == [-677, 1000, 2000, 3387, 5000]
    assert closing.total == 10710


def test_flexible_always_invoice_bills_the_change_at_once(client: stripe.StripeClient) -> None:
    _, invoices = _swap(client, "flexible", "always_invoice")
    assert [i.billing_reason for i in invoices] == [
        "subscription_create", "subscription_update", "subscription_cycle",
    ]  # fmt: skip
    assert invoices[1].total == 1000 - 677 + 3387 and invoices[2].total == 7000


def test_classic_billing_mode_never_bills_usage_before_the_swap(
    client: stripe.StripeClient,
) -> None:
    """Stripe: "Usage from January 1 to January 16 isn't billed" in classic mode."""
    _, invoices = _swap(client, "classic", "create_prorations")
    assert invoices[-1].total == -677 + 3387 + 5000 + 2000


def test_checkout_payment_mode_buys_a_credit_pack_and_saves_the_card(
    client: stripe.StripeClient, http: httpx.Client, endpoint: tuple[Receiver, str]
) -> None:
    receiver, _ = endpoint
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 100,
                        "product_data": {"name": "$1.00 of API credit"},
                    },
                }
            ],
            "customer_creation": "always",
            "payment_intent_data": {"setup_future_usage": "off_session"},
            "success_url": "http://127.0.0.1/ok?cs={CHECKOUT_SESSION_ID}",
        }  # fmt: skip
    )
    assert session.amount_total == 100 and session.payment_status == "unpaid"
    paid = pay_checkout(http, str(session.url), "4242424242424242")
    assert paid.status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert done.status == "complete" and done.payment_status == "paid"
    pi = client.v1.payment_intents.retrieve(str(done.payment_intent))
    assert (pi.status, pi.amount_received, pi.setup_future_usage) == (
        "succeeded",
        100,
        "off_session",
    )
    events = receiver.wait_types("checkout.session.completed", "payment_intent.succeeded")
    completed = next(e for e in events if e["type"] == "checkout.session.completed")
    assert completed["data"]["object"]["payment_status"] == "paid"
    # the saved card tops up later, off session
    customer = str(done.customer)
    pm = client.v1.customers.retrieve(customer).invoice_settings.default_payment_method
    top_up = client.v1.payment_intents.create(
        params={
            "amount": 500,
            "currency": "usd",
            "customer": customer,
            "payment_method": str(pm),
            "off_session": True,
            "confirm": True,
        }  # fmt: skip
    )
    assert top_up.status == "succeeded"


@pytest.mark.parametrize(
    ("pm", "code"),
    [("pm_card_chargeCustomerFail", "card_declined"),
     ("pm_card_authenticationRequired", "authentication_required")],
)  # fmt: skip
def test_off_session_top_up_that_fails(
    client: stripe.StripeClient, endpoint: tuple[Receiver, str], pm: str, code: str
) -> None:
    receiver, _ = endpoint
    cus = card_customer(client, pm)
    saved = str(cus.invoice_settings.default_payment_method)
    with pytest.raises(stripe.CardError) as exc:
        client.v1.payment_intents.create(
            params={
                "amount": 500,
                "currency": "usd",
                "customer": cus.id,
                "payment_method": saved,
                "off_session": True,
                "confirm": True,
            }  # fmt: skip
        )
    assert exc.value.code == code and exc.value.http_status == 402
    intent = client.v1.payment_intents.list(params={"customer": cus.id}).data[0]
    assert intent.status == "requires_payment_method" and intent.last_payment_error is not None
    receiver.wait_types("payment_intent.payment_failed")


def test_checkout_trial_promotion_code_and_tax_fields(
    emu: Emulator, client: stripe.StripeClient, http: httpx.Client
) -> None:
    emu.configure(tax_rates={"FR": 20})
    _, fee, _ = _hybrid(client)
    coupon = client.v1.coupons.create(params={"percent_off": 50, "duration": "once"})
    client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "HALF"}
    )
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": fee, "quantity": 1}],
            "allow_promotion_codes": True,
            "automatic_tax": {"enabled": True},
            "tax_id_collection": {"enabled": True},
            "subscription_data": {"trial_period_days": 7},
        }  # fmt: skip
    )
    page = http.get(str(session.url)).text
    assert 'name="promotion_code"' in page and 'name="country"' in page and 'name="tax_id"' in page
    form = {"email": "a@example.com", "card_number": "4242424242424242", "expiry": "12/34",
            "cvc": "123", "promotion_code": "half", "country": "FR"}  # fmt: skip
    assert http.post(str(session.url), data={**form, "promotion_code": "NOPE"}).status_code == 400
    assert http.post(str(session.url), data=form).status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id)
    assert done.payment_status == "no_payment_required"
    sub = client.v1.subscriptions.retrieve(str(done.subscription))
    assert sub.status == "trialing" and sub.automatic_tax.enabled and sub.discounts


def test_restricted_keys_for_the_new_endpoints(emu: Emulator) -> None:
    empty = emu.client(emu.restricted_key(["rak_account_read"]))
    for method, path, permission in [
        ("post", "/v1/coupons", "rak_coupon_write"),
        ("get", "/v1/promotion_codes", "rak_promotion_code_read"),
        ("post", "/v1/payment_intents", "rak_payment_intent_write"),
    ]:
        with pytest.raises(stripe.PermissionError) as exc:
            empty.raw_request(method, path)
        assert f"Having the '{permission}' permission" in str(exc.value.user_message)


def test_new_objects_have_the_shape_of_the_pinned_version(client: stripe.StripeClient) -> None:
    from .test_strict import typing_fields

    _, fee, _ = _hybrid(client)
    coupon = client.v1.coupons.create(params={"percent_off": 5, "duration": "forever"})
    code = client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}}
    )
    cus = card_customer(client)
    sub = client.v1.subscriptions.create(
        params={
            "customer": cus.id,
            "items": [{"price": fee}],
            "discounts": [{"promotion_code": code.id}],
        }  # fmt: skip
    )
    sub = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["discounts"]})
    pi = client.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    assert sub.discounts and not isinstance(sub.discounts[0], str)
    for obj, cls in (
        (coupon, stripe.Coupon),
        (code, stripe.PromotionCode),
        (sub.discounts[0], stripe.Discount),
        (pi, stripe.PaymentIntent),
    ):
        extra = set(obj.to_dict()) - set(typing_fields(cls)) - {"id", "object"}
        assert not extra, f"{cls.__name__} has fields the pinned version does not: {extra}"


def test_change_at_period_end_with_a_subscription_schedule(
    client: stripe.StripeClient, endpoint: tuple[Receiver, str]
) -> None:
    """Basic until the period ends, then Pro: January's usage on Basic's price and
    February's fee at Pro's, with no proration; the schedule is released after Pro's
    phase and the subscription goes on."""
    receiver, _ = endpoint
    prod = client.v1.products.create(params={"name": "API"}).id
    calls = meter(client, "calls")
    basic_fee, pro_fee = flat_price(client, prod, 1000), flat_price(client, prod, 5000)
    basic_use = usage_price(client, prod, calls, unit_amount=1)
    pro_use = usage_price(client, prod, calls, unit_amount_decimal="0.5")
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": basic_fee}, {"price": basic_use}]}
    )
    schedule = client.v1.subscription_schedules.create(params={"from_subscription": sub.id})
    assert schedule.status == "active" and schedule.phases[0].end_date == FEB1
    client.v1.subscription_schedules.update(
        schedule.id,
        params={"phases": [
            {"items": [{"price": basic_fee}, {"price": basic_use}], "start_date": T0,
             "end_date": FEB1},
            {"items": [{"price": pro_fee}, {"price": pro_use}],
             "duration": {"interval": "month", "interval_count": 1}},
        ]},
    )  # fmt: skip
    _advance(client, clock, T0 + 2 * DAY)
    report(client, "calls", cus, 1000, T0 + DAY)
    _advance(client, clock, FEB1 + GRACE)
    closing = _invoices(client, sub.id)[-1]
    assert sorted(li.amount for li in closing.lines.data) == [1000, 5000]  # Jan usage, Feb fee
    assert not any(
        li.parent and li.parent.subscription_item_details
        and li.parent.subscription_item_details.proration
        for li in closing.lines.data
    )  # fmt: skip
    items = client.v1.subscriptions.retrieve(sub.id).items.data
    assert {i.price.id for i in items} == {pro_fee, pro_use}
    report(client, "calls", cus, 4000, FEB1 + 600)
    _advance(client, clock, FEB1 + 29 * DAY + GRACE)  # March 1 (2024 is a leap year)
    assert _invoices(client, sub.id)[-1].total == 2000 + 5000
    released = client.v1.subscription_schedules.retrieve(schedule.id)
    assert released.status == "released" and released.released_subscription == sub.id
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    receiver.wait_types("subscription_schedule.released")


def test_switching_to_a_yearly_price_resets_the_billing_cycle(client: stripe.StripeClient) -> None:
    """Monthly $10 + $0.01/call to yearly $100 on January 11: the period ends now; one
    invoice: -$6.77 for the unused 21 of 31 days, 1,000 calls $10.00, the year $100.00."""
    prod = client.v1.products.create(params={"name": "API"}).id
    monthly = flat_price(client, prod, 1000)
    yearly = flat_price(client, prod, 10000, "year")
    use = usage_price(client, prod, meter(client, "calls"), unit_amount=1)
    yearly_use = client.v1.prices.create(
        params={"product": prod, "currency": "usd", "unit_amount": 1,
                "recurring": {"interval": "year", "usage_type": "metered",
                              "meter": client.v1.prices.retrieve(use).recurring.meter}}  # type: ignore[union-attr,typeddict-item]
    ).id  # fmt: skip
    clock, cus = clock_customer(client)
    sub = client.v1.subscriptions.create(
        params={"customer": cus, "items": [{"price": monthly}, {"price": use}]}
    )
    _advance(client, clock, T0 + 6 * DAY)
    report(client, "calls", cus, 1000, T0 + 5 * DAY)
    _advance(client, clock, T0 + 10 * DAY)
    items = sub.items.data
    client.v1.subscriptions.update(
        sub.id,
        params={"items": [{"id": items[0].id, "price": yearly},
                          {"id": items[1].id, "price": yearly_use}]},
    )  # fmt: skip
    inv = _invoices(client, sub.id)[-1]
    assert inv.billing_reason == "subscription_update" and inv.status == "paid"
    assert sorted(li.amount for li in inv.lines.data) == [-677, 1000, 10000]
    after = client.v1.subscriptions.retrieve(sub.id)
    assert after.billing_cycle_anchor == T0 + 10 * DAY
    assert after.items.data[0].current_period_end == T0 + 10 * DAY + 366 * DAY  # 2024 leaps
