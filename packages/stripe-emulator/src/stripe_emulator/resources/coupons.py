"""Coupons and promotion codes."""

from __future__ import annotations

import re
from typing import Any

from .. import errors
from ..context import Ctx
from ..ids import new_id, rand
from ..params import metadata, opt_int, require, to_bool
from ..render import expand_list, paginate, render
from ..router import router
from ..state import Obj

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,500}$")


@router.post("/v1/coupons", "coupon")
def create(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    has_pct, has_amount = (
        p.get("percent_off") not in (None, ""),
        p.get("amount_off") not in (None, ""),
    )
    if has_pct == has_amount:
        raise errors.bad(
            None, "You must specify either `percent_off` or `amount_off` (and not both)."
        )
    percent = None
    if has_pct:
        percent = float(p["percent_off"])
        if not 0 < percent <= 100 or round(percent, 2) != percent:
            raise errors.bad(
                "percent_off", "percent_off must be between 0 and 100, with at most two decimals."
            )
    amount = opt_int(p, "amount_off") if has_amount else None
    if amount is not None:
        require(p, "currency")
        if amount < 1:
            raise errors.bad("amount_off", "amount_off must be a positive integer.")
    duration = p.get("duration") or "once"
    months = opt_int(p, "duration_in_months")
    if (duration == "repeating") != (months is not None):
        raise errors.bad(
            "duration_in_months",
            "`duration_in_months` is required with (and only with) `duration=repeating`.",
        )
    if months is not None and not 1 <= months <= 36:
        raise errors.bad("duration_in_months", "duration_in_months must be between 1 and 36.")
    cid = p.get("id") or rand(8)
    if ctx.state.get(cid) is not None:
        raise errors.StripeError(
            400, "Coupon already exists.", code="resource_already_exists", param="id"
        )
    products = (p.get("applies_to") or {}).get("products")
    for i, prod in enumerate(products or []):
        ctx.fetch(prod, "product", "product", f"applies_to[products][{i}]")
    obj: Obj = {
        "id": cid,
        "object": "coupon",
        "amount_off": amount,
        "applies_to": {"products": list(products)} if products else None,
        "created": ctx.now(),
        "currency": str(p["currency"]).lower() if amount is not None else None,
        "duration": duration,
        "duration_in_months": months,
        "livemode": False,
        "max_redemptions": opt_int(p, "max_redemptions"),
        "metadata": metadata({}, p.get("metadata")),
        "name": p.get("name") or None,
        "percent_off": percent,
        "redeem_by": opt_int(p, "redeem_by"),
        "times_redeemed": 0,
        "valid": True,
    }
    ctx.state.put(obj)
    ctx.emit("coupon.created", obj)
    return _render(ctx, obj, p)


def _render(ctx: Ctx, obj: Obj, p: dict[str, Any]) -> Obj:
    if obj.get("object") == "coupon":
        from ..discounts import coupon_valid

        obj["valid"] = coupon_valid(obj, ctx.now())
    return render(ctx.state, obj, expand_list(p))


@router.get("/v1/coupons/{id}", "coupon")
def retrieve(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return _render(ctx, ctx.fetch(ids[0], "coupon", "coupon"), p)


@router.post("/v1/coupons/{id}", "coupon")
def update(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    obj = ctx.fetch(ids[0], "coupon", "coupon")
    if "name" in p:
        obj["name"] = p["name"] or None
    obj["metadata"] = metadata(obj["metadata"], p.get("metadata"))
    ctx.emit("coupon.updated", obj)
    return _render(ctx, obj, p)


@router.delete("/v1/coupons/{id}", "coupon")
def delete(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    """Deleting a coupon keeps the discounts already redeemed; no new redemptions."""
    obj = ctx.fetch(ids[0], "coupon", "coupon")
    obj["deleted"] = True
    ctx.emit("coupon.deleted", obj)
    return {"id": obj["id"], "object": "coupon", "deleted": True}


@router.get("/v1/coupons", "coupon")
def list_(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    items = [c for c in ctx.state.of("coupon") if not c.get("deleted")]
    return paginate(ctx.state, items, p, "/v1/coupons")


@router.post("/v1/promotion_codes", "promotion_code")
def create_code(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    promotion = p.get("promotion") or {}
    require(promotion, "coupon", prefix="promotion")
    coupon = ctx.fetch(promotion["coupon"], "coupon", "coupon", "promotion[coupon]")
    code = p.get("code") or rand(8).upper()
    if not _CODE.match(code):
        raise errors.bad("code", "A promotion code may contain letters, digits, - and _.")
    taken = [
        c
        for c in ctx.state.of("promotion_code")
        if c["active"] and c["code"].lower() == code.lower()
    ]
    if taken:
        raise errors.bad("code", f"An active promotion code with code: {code} already exists.")
    if p.get("customer"):
        ctx.fetch(p["customer"], "customer", "customer", "customer")
    r = p.get("restrictions") or {}
    obj: Obj = {
        "id": new_id("promo"),
        "object": "promotion_code",
        "active": to_bool(p.get("active", True), "active"),
        "code": code,
        "created": ctx.now(),
        "customer": p.get("customer") or None,
        "customer_account": None,
        "expires_at": opt_int(p, "expires_at"),
        "livemode": False,
        "max_redemptions": opt_int(p, "max_redemptions"),
        "metadata": metadata({}, p.get("metadata")),
        "promotion": {"type": "coupon", "coupon": coupon["id"]},
        "restrictions": {
            "currency_options": {},
            "first_time_transaction": to_bool(
                r.get("first_time_transaction", False), "restrictions[first_time_transaction]"
            ),
            "minimum_amount": opt_int(r, "minimum_amount", "restrictions"),
            "minimum_amount_currency": r.get("minimum_amount_currency") or None,
        },
        "times_redeemed": 0,
    }
    ctx.state.put(obj)
    ctx.emit("promotion_code.created", obj)
    return render(ctx.state, obj, expand_list(p))


@router.get("/v1/promotion_codes/{id}", "promotion_code")
def retrieve_code(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return ctx.retrieve(p, ids[0], "promotion_code", "promotion_code")


@router.post("/v1/promotion_codes/{id}", "promotion_code")
def update_code(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    obj = ctx.fetch(ids[0], "promotion_code", "promotion_code")
    if "active" in p:
        obj["active"] = to_bool(p["active"], "active")
    obj["metadata"] = metadata(obj["metadata"], p.get("metadata"))
    ctx.emit("promotion_code.updated", obj)
    return render(ctx.state, obj, expand_list(p))


@router.get("/v1/promotion_codes", "promotion_code")
def list_codes(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    items = ctx.state.of("promotion_code")
    if p.get("code"):
        items = [c for c in items if c["code"].lower() == str(p["code"]).lower()]
    if p.get("coupon"):
        items = [c for c in items if c["promotion"]["coupon"] == p["coupon"]]
    if "active" in p:
        active = to_bool(p["active"], "active")
        items = [c for c in items if c["active"] == active]
    return paginate(ctx.state, items, p, "/v1/promotion_codes")


def find_code(ctx: Ctx, code: str) -> Obj | None:
    """The active promotion code a customer typed (codes are case-insensitive)."""
    for c in ctx.state.of("promotion_code"):
        if c["active"] and c["code"].lower() == code.strip().lower():
            return c
    return None
