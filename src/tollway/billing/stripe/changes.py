"""Plan changes at Stripe: a price swap on the live subscription (``subscriptions.update``
with ``items``, ``proration_behavior`` and ``proration_date``) and its preview
(``invoices.create_preview`` with the same ``subscription_details``).

Tollway creates subscriptions with ``billing_mode=flexible``, so Stripe bills the usage
of a removed metered price up to the change at the old price (Stripe's "Update prices
mid-cycle"); the new metered price counts usage from the change on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

import stripe

from tollway.billing.engine import InvoiceInfo, PriceChange
from tollway.billing.stripe import convert, taxes
from tollway.billing.stripe.client import stripe_errors, translate

#: Checkout's ``subscription_data[billing_mode]``.
FLEXIBLE: stripe.params.checkout.SessionCreateParamsSubscriptionDataBillingMode = {
    "type": "flexible"
}

Behavior = Literal["always_invoice", "create_prorations", "none"]


def item_changes(sub: dict[str, Any], change: PriceChange) -> list[dict[str, Any]]:
    """``items[]`` moving each item of ``sub`` to the new price of its kind."""
    out: list[dict[str, Any]] = []
    seen_flat = seen_usage = False
    for item in (sub.get("items") or {}).get("data") or []:
        price = item.get("price") or {}
        metered = (price.get("recurring") or {}).get("usage_type") == "metered"
        target = change.usage_price_id if metered else change.flat_price_id
        seen_usage |= metered
        seen_flat |= not metered
        if target is None:
            out.append({"id": item["id"], "deleted": True})
        elif price.get("id") != target:
            out.append({"id": item["id"], "price": target})
    if change.flat_price_id and not seen_flat:
        out.append({"price": change.flat_price_id, "quantity": 1})
    if change.usage_price_id and not seen_usage:
        out.append({"price": change.usage_price_id})
    return out


def change_prices(client: stripe.StripeClient, subscription_id: str, change: PriceChange) -> None:
    with stripe_errors():
        sub = convert.as_dict(client.v1.subscriptions.retrieve(subscription_id))
        items = item_changes(sub, change)
        if not items:
            return
        params: stripe.params.SubscriptionUpdateParams = {
            "items": cast("list[stripe.params.SubscriptionUpdateParamsItem]", items),
            "proration_behavior": cast("Behavior", change.proration_behavior),
            "proration_date": change.at,
        }
        if taxes.turn_on(client, sub, change.automatic_tax):
            params["automatic_tax"] = {"enabled": True}
        client.v1.subscriptions.update(
            subscription_id,
            params=params,
            options={"idempotency_key": f"tollway-change-{subscription_id}-{change.at}"},
        )


def preview_change(
    client: stripe.StripeClient, customer_id: str, subscription_id: str, change: PriceChange
) -> InvoiceInfo | None:
    try:
        sub = client.v1.subscriptions.retrieve(subscription_id)
        items = item_changes(convert.as_dict(sub), change)
        details: stripe.params.InvoiceCreatePreviewParamsSubscriptionDetails = {
            "proration_behavior": cast("Behavior", change.proration_behavior),
            "proration_date": change.at,
        }
        if items:
            details["items"] = cast(
                "list[stripe.params.InvoiceCreatePreviewParamsSubscriptionDetailsItem]", items
            )
        inv = client.v1.invoices.create_preview(
            params={
                "customer": customer_id,
                "subscription": subscription_id,
                "subscription_details": details,
            }
        )
    except stripe.InvalidRequestError as err:
        if err.code == "invoice_upcoming_none":
            return None
        raise translate(err) from err
    except stripe.StripeError as err:
        raise translate(err) from err
    return convert.invoice(inv)


def schedule_change(client: stripe.StripeClient, subscription_id: str, change: PriceChange) -> None:
    """The change at the period end (``change.at``), as Stripe recommends: a subscription
    schedule made from the subscription, whose current phase ends then and whose next
    phase (one period of the new prices) starts then; released afterwards, so the
    subscription goes on with the new prices. No proration."""
    with stripe_errors():
        sub = convert.as_dict(client.v1.subscriptions.retrieve(subscription_id))
        schedule_id = convert.id(sub.get("schedule"))
        if schedule_id is None:
            schedule_id = client.v1.subscription_schedules.create(
                params={"from_subscription": subscription_id},
                options={"idempotency_key": f"tollway-schedule-{subscription_id}-{change.at}"},
            ).id
        first = convert.as_dict(client.v1.subscription_schedules.retrieve(schedule_id))["phases"][0]
        current = [
            {
                "price": convert.id(it["price"]),
                **({"quantity": it["quantity"]} if it.get("quantity") else {}),
            }
            for it in first["items"]
        ]
        new: list[dict[str, Any]] = []
        if change.flat_price_id:
            new.append({"price": change.flat_price_id, "quantity": 1})
        if change.usage_price_id:
            new.append({"price": change.usage_price_id})
        recurring = client.v1.prices.retrieve(str(new[0]["price"])).recurring
        assert recurring is not None
        phases: list[dict[str, Any]] = [
            {"items": current, "start_date": first["start_date"], "end_date": change.at},
            {
                "items": new,
                "duration": {
                    "interval": recurring.interval,
                    "interval_count": recurring.interval_count,
                },
            },
        ]
        if taxes.turn_on(client, sub, change.automatic_tax):
            for phase in phases:
                phase["automatic_tax"] = {"enabled": True}
        client.v1.subscription_schedules.update(
            schedule_id,
            params={
                "end_behavior": "release",
                "phases": cast("list[stripe.params.SubscriptionScheduleUpdateParamsPhase]", phases),
            },
        )


def move_to_prices(
    client: stripe.StripeClient,
    subscription_id: str,
    flat_price_id: str | None,
    usage_prices: Mapping[str, str],
    automatic_tax: bool = False,
) -> bool:
    """At a renewal: the licensed item onto ``flat_price_id``, each metered item onto
    the price for its billing meter in ``usage_prices`` (meter id -> price id), and the
    price of a meter the subscription has no item for added; no proration. With
    ``automatic_tax``, Stripe Tax is turned on where Stripe can locate the customer."""
    with stripe_errors():
        sub = client.v1.subscriptions.retrieve(subscription_id)
        items: list[stripe.params.SubscriptionUpdateParamsItem] = []
        on_meters: set[str] = set()
        for item in convert.as_dict(sub).get("items", {}).get("data", []):
            price = item.get("price") or {}
            recurring = price.get("recurring") or {}
            metered = recurring.get("usage_type") == "metered"
            meter = str(recurring.get("meter") or "")
            if metered:
                on_meters.add(meter)
            target = usage_prices.get(meter) if metered else flat_price_id
            if target and price.get("id") != target:
                items.append({"id": item["id"], "price": target})
        # a meter added to the plan since: its metered price joins the subscription
        items.extend({"price": p} for m, p in usage_prices.items() if m not in on_meters)
        if not items:
            return False
        params: stripe.params.SubscriptionUpdateParams = {
            "items": items,
            "proration_behavior": "none",
        }
        if taxes.turn_on(client, convert.as_dict(sub), automatic_tax):
            params["automatic_tax"] = {"enabled": True}
        client.v1.subscriptions.update(subscription_id, params=params)
    return True
