"""Checkout Sessions (subscription and payment mode) and their completion."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .. import errors, rating
from ..catalog import new_price
from ..checkout_pay import session_amounts
from ..context import Ctx
from ..discounts import redeem
from ..ids import new_id
from ..lifecycle import expire_session
from ..params import metadata, one_of, opt_int, require, to_bool
from ..render import clean, expand_list, paginate, render
from ..router import router
from ..state import Obj
from ..subscribe import end_behavior, trial_end_of

DAY = 86400


def _line_items(ctx: Ctx, mode: str, raw: list[dict[str, Any]]) -> list[Obj]:
    out: list[Obj] = []
    for i, li in enumerate(raw):
        param = f"line_items[{i}]"
        if li.get("price") and li.get("price_data"):
            raise errors.bad(
                f"{param}[price_data]",
                "You may only specify one of these parameters: price, price_data.",
            )
        if li.get("price_data"):
            price = _inline_price(ctx, li["price_data"], f"{param}[price_data]")
        elif not li.get("price"):
            raise errors.missing(f"{param}[price]")
        else:
            price = ctx.fetch(li["price"], "price", "price", f"{param}[price]")
        recurring = price.get("recurring")
        if mode == "subscription" and not recurring and not out:
            pass
        if mode == "payment" and recurring:
            raise errors.bad(
                f"{param}[price]",
                "You specified `payment` mode but passed a "
                "recurring price. Either switch to `subscription` mode or use "
                "only one-time prices.",
            )
        metered = bool(recurring and recurring["usage_type"] == "metered")
        quantity = opt_int(li, "quantity", param)
        if metered and quantity is not None:
            raise errors.bad(
                f"{param}[quantity]",
                "Quantity should not be specified where "
                f"usage_type is `metered`. Remove quantity from `{param}`.",
            )
        if not metered and quantity is None:
            raise errors.missing(f"{param}[quantity]")
        product = ctx.state.get(price["product"]) or {"name": price["product"]}
        amount = 0 if metered else rating.amount(price, Decimal(quantity or 0))
        out.append(
            {
                "id": new_id("li"),
                "object": "item",
                "adjustable_quantity": None,
                "amount_discount": 0,
                "amount_subtotal": amount,
                "amount_tax": 0,
                "amount_total": amount,
                "currency": price["currency"],
                "description": product["name"],
                "metadata": {},
                "price": clean(ctx.state, price),
                "quantity": quantity,
            }
        )
    if mode == "subscription" and not any(li["price"].get("recurring") for li in out):
        raise errors.bad(
            "line_items",
            "You must provide at least one recurring price in "
            "`subscription` mode when using prices.",
        )
    return out


def _inline_price(ctx: Ctx, data: dict[str, Any], param: str) -> Obj:
    """``price_data``: Stripe creates a Price for the line (and a Product from
    ``product_data``)."""
    if not data.get("product") and not data.get("product_data"):
        raise errors.missing(f"{param}[product]")
    if data.get("unit_amount") in (None, "") and data.get("unit_amount_decimal") in (None, ""):
        raise errors.missing(f"{param}[unit_amount]")
    return new_price(ctx, dict(data))


@router.post("/v1/checkout/sessions", "checkout_session")
def create(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    require(p, "mode")
    mode = one_of(p["mode"], ("payment", "setup", "subscription"), "mode")
    if mode != "setup" and not p.get("line_items"):
        raise errors.missing("line_items")
    if p.get("customer") and p.get("customer_email"):
        raise errors.bad(
            "customer_email",
            "You may only specify one of these parameters: customer, customer_email.",
        )
    customer = (
        ctx.fetch(p["customer"], "customer", "customer", "customer") if p.get("customer") else None
    )
    clock = customer.get("test_clock") if customer else None
    now = ctx.now(clock)
    expires_at = opt_int(p, "expires_at") or now + DAY
    if not now + 1800 <= expires_at <= now + DAY:
        raise errors.bad(
            "expires_at",
            "The `expires_at` timestamp must be between 30 minutes "
            "and 24 hours from Checkout Session creation.",
        )
    items = _line_items(ctx, mode, p.get("line_items") or [])
    total = sum(li["amount_total"] for li in items)
    sid = new_id("cs_test")
    if p.get("discounts") and p.get("allow_promotion_codes") in (True, "true"):
        raise errors.bad(
            "allow_promotion_codes",
            "You may only specify one of these parameters: allow_promotion_codes, discounts.",
        )
    data = p.get("subscription_data") or {}
    trial_end = trial_end_of(
        now,
        opt_int(data, "trial_period_days", "subscription_data"),
        data.get("trial_end"),
        param="subscription_data[trial_end]",
    )
    behavior = end_behavior(data.get("trial_settings"), "subscription_data[trial_settings]")
    entries = list(p.get("discounts") or [])
    redeem(ctx, entries, customer=customer["id"] if customer else None, at=now, store=False)
    intent_data = p.get("payment_intent_data") or {}
    if intent_data and mode != "payment":
        raise errors.bad(
            "payment_intent_data", "payment_intent_data can only be used in `payment` mode."
        )
    tax_ids = to_bool((p.get("tax_id_collection") or {}).get("enabled", False), "tax_id_collection")
    auto_tax = to_bool((p.get("automatic_tax") or {}).get("enabled", False), "automatic_tax")
    address_collection = (
        one_of(p["billing_address_collection"], ("auto", "required"), "billing_address_collection")
        if p.get("billing_address_collection")
        else None
    )
    updates = _customer_update(p, customer)
    if auto_tax and customer is not None:
        _refuse_tax_without_address(customer, updates)
    obj: Obj = {
        "id": sid,
        "object": "checkout.session",
        "adaptive_pricing": None,
        "after_expiration": None,
        "allow_promotion_codes": to_bool(p["allow_promotion_codes"], "allow_promotion_codes")
        if p.get("allow_promotion_codes") not in (None, "")
        else None,
        "amount_subtotal": total,
        "amount_total": total,
        "automatic_tax": {
            "enabled": auto_tax,
            "liability": None,
            "status": None,
            "provider": "stripe" if auto_tax else None,
        },
        "billing_address_collection": address_collection,
        "cancel_url": p.get("cancel_url") or None,
        "client_reference_id": p.get("client_reference_id") or None,
        "client_secret": None,
        "created": now,
        "currency": items[0]["currency"] if items else None,
        "custom_fields": [],
        "customer": customer["id"] if customer else None,
        "customer_creation": None
        if customer
        else p.get("customer_creation") or ("always" if mode == "subscription" else "if_required"),
        "discounts": [],
        "customer_details": None,
        "customer_email": p.get("customer_email") or None,
        "expires_at": expires_at,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": p.get("locale") or None,
        "metadata": metadata({}, p.get("metadata")),
        "mode": mode,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": p.get("payment_method_collection") or "always",
        "payment_method_types": list(p.get("payment_method_types") or ["card"]),
        "payment_status": "unpaid",
        "recovered_from": None,
        "setup_intent": None,
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": p.get("success_url") or None,
        "tax_id_collection": {"enabled": tax_ids, "required": "never"},
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": p.get("ui_mode") or "hosted",
        "url": f"{ctx.api_base}/checkout/pay/{sid}",
        "_line_items": items,
        "_clock": clock,
        "_subscription_data": data,
        "_trial_end": trial_end,
        "_end_behavior": behavior,
        "_discount_entries": entries,
        "_customer_update": updates,
        "_setup_future_usage": intent_data.get("setup_future_usage") or None,
        "_intent_metadata": intent_data.get("metadata") or {},
    }
    session_amounts(ctx, obj, redeem(ctx, entries, customer=None, at=now, store=False), "")
    ctx.state.put(obj)
    return render(ctx.state, obj, expand_list(p))


def _customer_update(p: dict[str, Any], customer: Obj | None) -> dict[str, str]:
    """``customer_update[address|name|shipping]`` (``auto`` | ``never``): whether the
    session saves what the customer enters to an existing customer."""
    raw = p.get("customer_update") or {}
    if raw and customer is None:
        raise errors.bad("customer_update", "customer_update can only be used with customer.")
    out: dict[str, str] = {}
    for field in ("address", "name", "shipping"):
        if raw.get(field) not in (None, ""):
            out[field] = one_of(raw[field], ("auto", "never"), f"customer_update[{field}]")
    return out


def _refuse_tax_without_address(customer: Obj, updates: dict[str, str]) -> None:
    """Stripe refuses automatic tax for an existing customer that has no address unless
    the address entered in Checkout is saved to it."""
    if (customer.get("address") or {}).get("country"):
        return
    if "auto" in (updates.get("address"), updates.get("shipping")):
        return
    raise errors.bad(
        "automatic_tax[enabled]",
        "Automatic tax calculation in Checkout requires a valid address on the Customer. "
        "Add a valid address to the Customer or set either `customer_update[address]` to "
        "'auto' or `customer_update[shipping]` to 'auto' to save the address entered in "
        "Checkout to the Customer.",
    )


@router.get("/v1/checkout/sessions/{id}", "checkout_session")
def retrieve(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return ctx.retrieve(p, ids[0], "checkout.session", "checkout.session")


@router.get("/v1/checkout/sessions/{id}/line_items", "checkout_session")
def line_items(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    s = ctx.fetch(ids[0], "checkout.session", "checkout.session")
    return paginate(
        ctx.state, list(s["_line_items"]), p, f"/v1/checkout/sessions/{s['id']}/line_items"
    )


@router.post("/v1/checkout/sessions/{id}/expire", "checkout_session")
def expire(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    s = ctx.fetch(ids[0], "checkout.session", "checkout.session")
    if s["status"] != "open":
        raise errors.bad(
            None,
            'Only Checkout Sessions with a status in ["open"] can be '
            f"expired. This session has status `{s['status']}`.",
        )
    expire_session(ctx, s, ctx.now(s.get("_clock")))
    return render(ctx.state, s, expand_list(p))


@router.get("/v1/checkout/sessions", "checkout_session")
def list_(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    items = ctx.state.of("checkout.session")
    for field in ("customer", "subscription", "status"):
        if p.get(field):
            items = [s for s in items if s.get(field) == p[field]]
    return paginate(ctx.state, items, p, "/v1/checkout/sessions")
