"""Checkout Sessions (subscription and payment mode) and their completion."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .. import cards, errors, rating
from ..context import Ctx
from ..ids import new_id
from ..lifecycle import expire_session, start_subscription
from ..params import metadata, one_of, opt_int, require
from ..render import clean, expand_list, paginate, render
from ..router import router
from ..state import Obj
from .customers import make_pm

DAY = 86400


def _line_items(ctx: Ctx, mode: str, raw: list[dict[str, Any]]) -> list[Obj]:
    out: list[Obj] = []
    for i, li in enumerate(raw):
        param = f"line_items[{i}]"
        if li.get("price_data"):
            raise errors.bad(
                f"{param}[price_data]", "The emulator needs an existing price: pass `price`."
            )
        if not li.get("price"):
            raise errors.missing(f"{param}[price]")
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
    obj: Obj = {
        "id": sid,
        "object": "checkout.session",
        "adaptive_pricing": None,
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": total,
        "amount_total": total,
        "automatic_tax": {"enabled": False, "liability": None, "status": None, "provider": None},
        "billing_address_collection": p.get("billing_address_collection") or None,
        "cancel_url": p.get("cancel_url") or None,
        "client_reference_id": p.get("client_reference_id") or None,
        "client_secret": None,
        "created": now,
        "currency": items[0]["currency"] if items else None,
        "custom_fields": [],
        "customer": customer["id"] if customer else None,
        "customer_creation": None if customer else "always",
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
        "payment_method_collection": "always",
        "payment_method_types": list(p.get("payment_method_types") or ["card"]),
        "payment_status": "unpaid",
        "recovered_from": None,
        "setup_intent": None,
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": p.get("success_url") or None,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": p.get("ui_mode") or "hosted",
        "url": f"{ctx.api_base}/checkout/pay/{sid}",
        "_line_items": items,
        "_clock": clock,
        "_subscription_data": p.get("subscription_data") or {},
    }
    ctx.state.put(obj)
    return render(ctx.state, obj, expand_list(p))


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


def complete(
    ctx: Ctx,
    s: Obj,
    *,
    number: str,
    exp_month: int,
    exp_year: int,
    email: str | None,
    name: str | None,
) -> str:
    """Pay a session from the hosted page; returns the redirect URL or raises a card error."""
    at = ctx.now(s.get("_clock"))
    if s["status"] == "open" and s["expires_at"] <= at:
        expire_session(ctx, s, at)
    if s["status"] != "open":
        raise errors.bad(None, f"This Checkout Session is {s['status']}.")
    number = cards.normalize(number)
    outcome = cards.on_attach(number)
    if outcome.status == "declined":
        raise errors.card_declined(str(outcome.decline_code), str(outcome.message))
    pm = make_pm(ctx, number, exp_month, exp_year, at)
    if s["customer"]:
        customer = ctx.fetch(s["customer"], "customer", "customer")
    else:
        from .customers import create as create_customer

        cid = create_customer(
            ctx, {"email": email or s["customer_email"] or "", "name": name or ""}, []
        )["id"]
        customer = ctx.fetch(cid, "customer", "customer")
        s["customer"] = customer["id"]
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
    payment_status = "paid"
    if s["mode"] == "subscription":
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
            trial_days=opt_int(data, "trial_period_days", "subscription_data"),
            description=data.get("description") or None,
            from_checkout=True,
        )
        s["subscription"], s["invoice"] = sub["id"], inv["id"]
        if inv["status"] != "paid":
            payment_status = "unpaid"
        elif inv["amount_due"] == 0:
            payment_status = "no_payment_required"
    s["status"] = "complete"
    s["payment_status"] = payment_status
    s["url"] = None
    s["customer_details"] = {
        "address": None,
        "email": customer.get("email") or email,
        "name": customer.get("name") or name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
        "business_name": None,
        "individual_name": None,
    }
    ctx.emit("checkout.session.completed", s, created=at)
    target = s["success_url"] or f"{ctx.api_base}/checkout/done/{s['id']}"
    return str(target).replace("{CHECKOUT_SESSION_ID}", s["id"])
