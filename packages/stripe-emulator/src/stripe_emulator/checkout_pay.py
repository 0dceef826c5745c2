"""Paying a Checkout Session on the hosted page, and a session's amounts (discounts,
tax) from its line items."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from . import cards, errors
from .context import Ctx
from .discounts import redeem, shares
from .lifecycle import expire_session
from .params import metadata
from .payments import confirm, new_intent
from .resources.coupons import find_code
from .resources.customers import make_pm
from .state import Obj
from .subscribe import start_subscription


def session_amounts(ctx: Ctx, s: Obj, discounts: list[Obj], country: str) -> None:
    """The session's subtotal, discount, tax and total from its line items."""
    items = s["_line_items"]
    trial = bool(s["_trial_end"]) if s["mode"] == "subscription" else False
    base = [0 if trial else li["amount_subtotal"] for li in items]
    products = [li["price"]["product"] for li in items]
    parts = shares(
        ctx, [(a, p, a > 0) for a, p in zip(base, products, strict=True)], discounts,
        s["currency"] or "usd",
    )  # fmt: skip
    rate = ctx.settings.tax_rates.get(country) if s["automatic_tax"]["enabled"] else None
    tax_total = discount_total = 0
    for li, amount, part in zip(items, base, parts, strict=True):
        off = sum(a for _, a in part)
        tax = 0
        if rate:
            tax = int(
                (Decimal(amount - off) * Decimal(str(rate)) / 100).quantize(
                    Decimal(1), ROUND_HALF_UP
                )
            )
        li["amount_subtotal"], li["amount_discount"], li["amount_tax"] = amount, off, tax
        li["amount_total"] = amount - off + tax
        discount_total += off
        tax_total += tax
    s["amount_subtotal"] = sum(base)
    s["total_details"] = {
        "amount_discount": discount_total,
        "amount_shipping": 0,
        "amount_tax": tax_total,
    }
    s["amount_total"] = sum(base) - discount_total + tax_total
    s["discounts"] = [
        {"coupon": d["_coupon"], "promotion_code": d.get("promotion_code")} for d in discounts
    ]
    if s["automatic_tax"]["enabled"]:
        s["automatic_tax"]["status"] = "complete" if country else "requires_location_inputs"


def complete(
    ctx: Ctx,
    s: Obj,
    *,
    number: str,
    exp_month: int,
    exp_year: int,
    email: str | None,
    name: str | None,
    promotion_code: str | None = None,
    country: str | None = None,
    tax_id: str | None = None,
) -> str:
    """Pay a session from the hosted page; returns the redirect URL or raises a card error
    (or a bad promotion code / missing address)."""
    at = ctx.now(s.get("_clock"))
    if s["status"] == "open" and s["expires_at"] <= at:
        expire_session(ctx, s, at)
    if s["status"] != "open":
        raise errors.bad(None, f"This Checkout Session is {s['status']}.")
    entries = list(s["_discount_entries"])
    if promotion_code:
        if not s.get("allow_promotion_codes"):
            raise errors.bad(None, "This Checkout Session does not accept promotion codes.")
        found = find_code(ctx, promotion_code)
        if found is None:
            raise errors.bad(None, f"This code is invalid: {promotion_code}.")
        entries = [{"promotion_code": found["id"]}]
    country = (country or "").strip().upper()
    needs_address = s["automatic_tax"]["enabled"] or s["billing_address_collection"] == "required"
    if needs_address and len(country) != 2:
        raise errors.bad(None, "Enter the country of your billing address (two letters).")
    number = cards.normalize(number)
    outcome = cards.on_attach(number)
    if outcome.status == "declined":
        raise errors.card_declined(str(outcome.decline_code), str(outcome.message))
    customer_id = s["customer"]
    redeem(ctx, entries, customer=customer_id, at=at, store=False)  # refuses a bad code first
    pm = make_pm(ctx, number, exp_month, exp_year, at)
    save = s["mode"] == "subscription" or s["_setup_future_usage"] or customer_id
    customer: Obj | None = None
    if customer_id:
        customer = ctx.fetch(customer_id, "customer", "customer")
    elif s["customer_creation"] == "always" or save:
        from .resources.customers import create as create_customer

        cid = create_customer(
            ctx, {"email": email or s["customer_email"] or "", "name": name or ""}, []
        )["id"]
        customer = ctx.fetch(cid, "customer", "customer")
        s["customer"] = customer["id"]
    saves_address = not customer_id or (s.get("_customer_update") or {}).get("address") == "auto"
    if customer is not None and country and saves_address:
        customer["address"] = {**(customer.get("address") or _NO_ADDRESS), "country": country}
    if customer is not None and save:
        _save_card(ctx, customer, pm, email, name, at)
    payment_status = "paid"
    if s["mode"] == "subscription":
        assert customer is not None
        data = s.get("_subscription_data") or {}
        items = [
            {"price": li["price"]["id"], "quantity": li["quantity"]}
            for li in s["_line_items"]
            if li["price"].get("recurring")
        ]
        sub, inv = start_subscription(
            ctx,
            customer,
            items,
            at=at,
            default_payment_method=pm["id"],
            metadata=metadata({}, data.get("metadata")),
            trial_end=s["_trial_end"],
            missing_payment_method=s["_end_behavior"],
            description=data.get("description") or None,
            from_checkout=True,
            discounts=entries,
            automatic_tax=s["automatic_tax"]["enabled"],
            billing_mode=(data.get("billing_mode") or {}).get("type") or "classic",
            checkout_session=s["id"],
        )
        s["subscription"], s["invoice"] = sub["id"], inv["id"]
        session_amounts(ctx, s, list(inv.get("_discount_data") or []), country)
        s["amount_total"] = inv["amount_due"]
        if inv["status"] != "paid":
            payment_status = "unpaid"
        elif inv["amount_due"] == 0:
            payment_status = "no_payment_required"
    elif s["mode"] == "payment":
        discounts = redeem(ctx, entries, customer=s["customer"], at=at, checkout_session=s["id"])
        session_amounts(ctx, s, discounts, country)
        pi = new_intent(
            ctx,
            amount=s["amount_total"],
            currency=s["currency"],
            customer=s["customer"],
            payment_method=pm["id"],
            at=at,
            setup_future_usage=s["_setup_future_usage"],
            metadata=s["_intent_metadata"],
        )
        s["payment_intent"] = pi["id"]
        confirm(ctx, pi, off_session=False, at=at)  # raises on a declined card
    s["status"] = "complete"
    s["payment_status"] = payment_status
    s["url"] = None
    s["customer_details"] = {
        "address": {**_NO_ADDRESS, "country": country} if country else None,
        "email": (customer or {}).get("email") or email,
        "name": (customer or {}).get("name") or name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [{"type": "eu_vat", "value": tax_id}] if tax_id else [],
        "business_name": None,
        "individual_name": None,
    }
    ctx.emit("checkout.session.completed", s, created=at)
    target = s["success_url"] or f"{ctx.api_base}/checkout/done/{s['id']}"
    return str(target).replace("{CHECKOUT_SESSION_ID}", s["id"])


_NO_ADDRESS = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}


def _save_card(
    ctx: Ctx, customer: Obj, pm: Obj, email: str | None, name: str | None, at: int
) -> None:
    pm["customer"] = customer["id"]
    pm["billing_details"]["email"] = email or customer.get("email")
    pm["billing_details"]["name"] = name or customer.get("name")
    ctx.emit("payment_method.attached", pm, created=at)
    if not customer["invoice_settings"]["default_payment_method"]:
        customer["invoice_settings"]["default_payment_method"] = pm["id"]
        ctx.emit(
            "customer.updated",
            customer,
            created=at,
            previous={"invoice_settings": {"default_payment_method": None}},
        )
