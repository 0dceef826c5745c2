"""Customers and card payment methods."""

from __future__ import annotations

from typing import Any

from .. import cards, errors
from ..context import Ctx
from ..ids import new_id, rand
from ..params import metadata, opt_int, require
from ..render import expand_list, paginate, render
from ..router import router
from ..state import Obj


def make_pm(ctx: Ctx, number: str, exp_month: int, exp_year: int, created: int) -> Obj:
    number = cards.normalize(number)
    if not cards.valid_number(number):
        raise errors.StripeError(
            402,
            "Your card number is incorrect.",
            type="card_error",
            code="incorrect_number",
            param="card[number]",
        )
    pm: Obj = {
        "id": new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": {
                "city": None,
                "country": None,
                "line1": None,
                "line2": None,
                "postal_code": None,
                "state": None,
            },
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "card": {
            "brand": cards.brand_of(number),
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": "US",
            "display_brand": cards.brand_of(number),
            "exp_month": exp_month,
            "exp_year": exp_year,
            "fingerprint": rand(16),
            "funding": "credit",
            "last4": number[-4:],
            "networks": {"available": [cards.brand_of(number)], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": created,
        "customer": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
        "_number": number,
        "_account": ctx.account,
    }
    return ctx.state.put(pm)


def resolve_pm(ctx: Ctx, pm_id: str, param: str) -> Obj:
    """An existing PaymentMethod, or a fresh one for a magic test id like pm_card_visa."""
    if pm_id in cards.MAGIC:
        return make_pm(ctx, cards.MAGIC[pm_id], 12, 2034, ctx.now())
    return ctx.fetch(pm_id, "payment_method", "PaymentMethod", param)


def attach(ctx: Ctx, pm: Obj, customer: Obj) -> None:
    if pm["customer"] == customer["id"]:
        return
    if pm["customer"]:
        raise errors.bad(
            "payment_method",
            "The payment method you provided has already been attached to a customer.",
        )
    outcome = cards.on_attach(pm["_number"])
    if outcome.status == "declined":
        raise errors.card_declined(str(outcome.decline_code), str(outcome.message))
    pm["customer"] = customer["id"]
    ctx.emit("payment_method.attached", pm)


@router.post("/v1/customers", "customer")
def create(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    clock = None
    if p.get("test_clock"):
        clock = ctx.fetch(p["test_clock"], "test_helpers.test_clock", "test clock", "test_clock")[
            "id"
        ]
    obj: Obj = {
        "id": new_id("cus"),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": ctx.now(clock),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": rand(8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": clock,
    }
    _apply(ctx, obj, p)
    ctx.state.put(obj)
    ctx.emit("customer.created", obj, created=obj["created"])
    if p.get("payment_method"):
        pm = resolve_pm(ctx, p["payment_method"], "payment_method")
        attach(ctx, pm, obj)
        settings = p.get("invoice_settings") or {}
        if settings.get("default_payment_method") == p["payment_method"]:
            p = {**p, "invoice_settings": {**settings, "default_payment_method": pm["id"]}}
    _default_pm(ctx, obj, p)
    return render(ctx.state, obj, expand_list(p))


def _apply(ctx: Ctx, obj: Obj, p: dict[str, Any]) -> None:
    for k in ("email", "name", "description", "phone", "tax_exempt"):
        if k in p:
            obj[k] = p[k] or None
    for k in ("address", "shipping"):
        if k in p:
            obj[k] = p[k] or None
    if "preferred_locales" in p:
        obj["preferred_locales"] = list(p["preferred_locales"] or [])
    if "balance" in p:
        obj["balance"] = opt_int(p, "balance") or 0
    obj["metadata"] = metadata(obj.get("metadata"), p.get("metadata"))


def _default_pm(ctx: Ctx, obj: Obj, p: dict[str, Any]) -> None:
    settings = p.get("invoice_settings") or {}
    if "default_payment_method" in settings:
        pm_id = settings["default_payment_method"]
        if pm_id:
            pm = ctx.fetch(
                pm_id, "payment_method", "PaymentMethod", "invoice_settings[default_payment_method]"
            )
            if pm["customer"] != obj["id"]:
                raise errors.bad(
                    "invoice_settings[default_payment_method]",
                    f"No such PaymentMethod: '{pm_id}'; It must be attached to this customer.",
                )
        obj["invoice_settings"]["default_payment_method"] = pm_id or None
    if "footer" in settings:
        obj["invoice_settings"]["footer"] = settings["footer"] or None


@router.get("/v1/customers/{id}", "customer")
def retrieve(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    obj = ctx.state.get(ids[0])
    if obj is not None and obj.get("object") == "customer" and obj.get("deleted"):
        return {"id": obj["id"], "object": "customer", "deleted": True}
    return render(ctx.state, ctx.fetch(ids[0], "customer", "customer"), expand_list(p))


@router.post("/v1/customers/{id}", "customer")
def update(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    obj = ctx.fetch(ids[0], "customer", "customer")
    before = {k: obj.get(k) for k in p if k in obj and k != "expand"}
    _apply(ctx, obj, p)
    _default_pm(ctx, obj, p)
    ctx.emit("customer.updated", obj, previous=before, created=ctx.now(obj["test_clock"]))
    return render(ctx.state, obj, expand_list(p))


@router.delete("/v1/customers/{id}", "customer")
def delete(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    obj = ctx.fetch(ids[0], "customer", "customer")
    from ..lifecycle import cancel_subscription

    for sub in ctx.state.of("subscription"):
        if sub["customer"] == obj["id"] and sub["status"] not in ("canceled", "incomplete_expired"):
            cancel_subscription(
                ctx, sub, ctx.now(obj["test_clock"]), reason="cancellation_requested"
            )
    obj["deleted"] = True
    ctx.emit("customer.deleted", obj)
    return {"id": obj["id"], "object": "customer", "deleted": True}


@router.get("/v1/customers", "customer")
def list_(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    items = [c for c in ctx.state.of("customer") if not c.get("deleted")]
    for field in ("email", "test_clock"):
        if p.get(field):
            items = [c for c in items if c.get(field) == p[field]]
    return paginate(ctx.state, items, p, "/v1/customers")


@router.post("/v1/payment_methods", "payment_method")
def create_pm(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    require(p, "type")
    if p["type"] != "card":
        raise errors.bad("type", "The emulator only supports payment methods of type `card`.")
    card = p.get("card") or {}
    if card.get("token"):
        number = cards.MAGIC.get(card["token"])
        if number is None:
            raise errors.no_such("token", card["token"], "card[token]")
        pm = make_pm(ctx, number, 12, 2034, ctx.now())
    else:
        require(card, "number", "exp_month", "exp_year", prefix="card")
        pm = make_pm(
            ctx,
            card["number"],
            opt_int(card, "exp_month", "card") or 12,
            opt_int(card, "exp_year", "card") or 2034,
            ctx.now(),
        )
    pm["metadata"] = metadata({}, p.get("metadata"))
    return render(ctx.state, pm, expand_list(p))


@router.get("/v1/payment_methods/{id}", "payment_method")
def retrieve_pm(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return render(ctx.state, resolve_pm(ctx, ids[0], "id"), expand_list(p))


@router.post("/v1/payment_methods/{id}/attach", "payment_method")
def attach_pm(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    require(p, "customer")
    pm = resolve_pm(ctx, ids[0], "payment_method")
    attach(ctx, pm, ctx.fetch(p["customer"], "customer", "customer", "customer"))
    return render(ctx.state, pm, expand_list(p))


@router.post("/v1/payment_methods/{id}/detach", "payment_method")
def detach_pm(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    pm = ctx.fetch(ids[0], "payment_method", "PaymentMethod")
    if not pm["customer"]:
        raise errors.bad(
            None,
            "The payment method you provided is not attached to a customer "
            "so detachment is impossible.",
        )
    cus = ctx.state.get(pm["customer"])
    if cus and cus["invoice_settings"]["default_payment_method"] == pm["id"]:
        cus["invoice_settings"]["default_payment_method"] = None
    pm["customer"] = None
    ctx.emit("payment_method.detached", pm)
    return render(ctx.state, pm, expand_list(p))


@router.get("/v1/payment_methods", "payment_method")
def list_pm(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    items = [m for m in ctx.state.of("payment_method") if m["customer"]]
    if p.get("customer"):
        items = [m for m in items if m["customer"] == p["customer"]]
    return paginate(ctx.state, items, p, "/v1/payment_methods")


@router.get("/v1/customers/{id}/payment_methods", "customer")
def list_customer_pm(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    cus = ctx.fetch(ids[0], "customer", "customer")
    items = [m for m in ctx.state.of("payment_method") if m["customer"] == cus["id"]]
    return paginate(ctx.state, items, p, f"/v1/customers/{cus['id']}/payment_methods")
