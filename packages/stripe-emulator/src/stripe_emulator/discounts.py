"""Discounts: redeeming coupons and promotion codes, and what they take off an invoice.

A discount (``di_…``) is a coupon redeemed for a customer, a subscription or a Checkout
Session; it ends ``duration_in_months`` months after its start for ``repeating``
coupons, after the first invoice for ``once``, never for ``forever``.

On an invoice, Stripe discounts its lines:

* a line is discountable unless it is a proration or not positive (Stripe's
  ``discountable`` defaults to false for both), and only lines of the coupon's
  ``applies_to[products]`` when it has them;
* ``percent_off``: each line's discount is ``amount x percent / 100`` rounded half up
  to the minor unit, per line;
* ``amount_off`` (in the invoice's currency, else nothing): at most the discountable
  amount, spread over the lines in proportion to their amounts in whole minor units by
  the largest remainder (floors first, the units left to the largest remainders,
  earlier lines first on ties), so the line shares add up to the discount;
* several discounts apply one after the other, each to what the previous left.

The spreading and per-line rounding of ``amount_off`` are not documented by Stripe:
this is the emulator's model (see README, "Discounts").
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from . import errors
from .context import Ctx
from .ids import new_id
from .render import clean
from .state import Obj


def coupon_valid(coupon: Obj, at: int) -> bool:
    if coupon.get("deleted"):
        return False
    if coupon.get("redeem_by") and at >= int(coupon["redeem_by"]):
        return False
    most = coupon.get("max_redemptions")
    return not (most and coupon["times_redeemed"] >= int(most))


def months_after(ts: int, months: int) -> int:
    start = datetime.fromtimestamp(ts, UTC)
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def _promotion(ctx: Ctx, code_id: str, customer: str | None, at: int, param: str) -> Obj:
    promo = ctx.fetch(code_id, "promotion_code", "promotion code", param)
    expired = promo.get("expires_at") and at >= int(promo["expires_at"])
    most = promo.get("max_redemptions")
    if not promo["active"] or expired or (most and promo["times_redeemed"] >= int(most)):
        raise errors.bad(param, f"This promotion code cannot be redeemed: {promo['code']}.")
    if promo.get("customer") and promo["customer"] != customer:
        raise errors.bad(param, "This promotion code cannot be redeemed by this customer.")
    if promo["restrictions"].get("first_time_transaction") and customer:
        paid = [
            i
            for i in ctx.state.of("invoice")
            if i["customer"] == customer and i["status"] == "paid" and i["amount_paid"] > 0
        ]
        if paid:
            raise errors.bad(param, "This promotion code is only for first-time customers.")
    return promo


def redeem(
    ctx: Ctx,
    entries: Any,
    *,
    customer: str | None,
    at: int,
    param: str = "discounts",
    subscription: str | None = None,
    checkout_session: str | None = None,
    store: bool = True,
) -> list[Obj]:
    """Discount objects for ``discounts[]`` entries (``coupon``, ``promotion_code`` or an
    existing ``discount``); counted as redemptions only when ``store``."""
    out: list[Obj] = []
    for i, entry in enumerate(entries or []):
        where = f"{param}[{i}]"
        if entry.get("discount"):
            found = ctx.fetch(entry["discount"], "discount", "discount", f"{where}[discount]")
            out.append(found)
            continue
        promo = None
        if entry.get("promotion_code"):
            promo = _promotion(
                ctx, entry["promotion_code"], customer, at, f"{where}[promotion_code]"
            )
            coupon_id = promo["promotion"]["coupon"]
        elif entry.get("coupon"):
            coupon_id = entry["coupon"]
        else:
            raise errors.missing(f"{where}[coupon]")
        coupon = ctx.fetch(coupon_id, "coupon", "coupon", f"{where}[coupon]")
        if not coupon_valid(coupon, at):
            raise errors.bad(f"{where}[coupon]", f"Coupon expired: {coupon['id']}")
        months = coupon.get("duration_in_months") or 0
        end = months_after(at, int(months)) if coupon["duration"] == "repeating" else None
        discount: Obj = {
            "id": new_id("di"),
            "object": "discount",
            "checkout_session": checkout_session,
            "customer": customer,
            "customer_account": None,
            "end": end,
            "invoice": None,
            "invoice_item": None,
            "promotion_code": promo["id"] if promo else None,
            "source": {"type": "coupon", "coupon": clean(ctx.state, coupon)},
            "start": at,
            "subscription": subscription,
            "subscription_item": None,
            "_coupon": coupon["id"],
        }
        if store:
            coupon["times_redeemed"] += 1
            if promo is not None:
                promo["times_redeemed"] += 1
            ctx.state.put(discount)
        out.append(discount)
    return out


def active(ctx: Ctx, discounts: list[Obj], at: int) -> list[Obj]:
    """The discounts that still apply to an invoice created at ``at``."""
    return [
        d
        for d in discounts
        if not d.get("deleted") and (d.get("end") is None or at < int(d["end"]))
    ]


def discounts_of(ctx: Ctx, sub: Obj) -> list[Obj]:
    found = (ctx.state.get(d) for d in sub.get("discounts") or [])
    return [d for d in found if d is not None]


def after_invoiced(ctx: Ctx, sub: Obj, inv: Obj, at: int) -> None:
    """A ``once`` discount ends with the first invoice it took something off (a $0
    trial invoice does not use it up)."""
    used = {t["discount"] for t in inv.get("total_discount_amounts") or [] if t["amount"] > 0}
    for d in list(inv.get("_discount_data") or []):
        coupon = ctx.state.get(d["_coupon"]) or d["source"]["coupon"]
        stored = ctx.state.get(d["id"])
        if coupon["duration"] == "once" and stored is not None and d["id"] in used:
            d = stored
            d["end"] = at
            sub["discounts"] = [x for x in sub.get("discounts") or [] if x != d["id"]]


def _discountable(li: Obj) -> bool:
    details = (li.get("parent") or {}).get("subscription_item_details") or {}
    return not details.get("proration") and li["amount"] > 0


def _product(li: Obj) -> str | None:
    price_details = (li.get("pricing") or {}).get("price_details") or {}
    product = price_details.get("product")
    return str(product) if product else None


def _largest_remainder(total: int, weights: list[int]) -> list[int]:
    whole = sum(weights)
    if whole <= 0:
        return [0] * len(weights)
    spread = min(total, whole)
    exact = [Decimal(spread * w) / Decimal(whole) for w in weights]
    shares = [int(e.to_integral_value(ROUND_FLOOR)) for e in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[: spread - sum(shares)]:
        shares[i] += 1
    return shares


def shares(
    ctx: Ctx, items: list[tuple[int, str | None, bool]], discounts: list[Obj], currency: str
) -> list[list[tuple[str, int]]]:
    """Each item's discount amounts (discount id, amount), for items given as (amount,
    product, discountable), the discounts applied one after the other."""
    left = [amount for amount, _, _ in items]
    out: list[list[tuple[str, int]]] = [[] for _ in items]
    for d in discounts:
        coupon = ctx.state.get(d["_coupon"]) or d["source"]["coupon"]
        products = (coupon.get("applies_to") or {}).get("products")
        eligible = [
            i
            for i, (_, product, ok) in enumerate(items)
            if ok and left[i] > 0 and (not products or product in products)
        ]
        if coupon.get("percent_off") is not None:
            pct = Decimal(str(coupon["percent_off"]))
            parts = [
                int((Decimal(left[i]) * pct / 100).quantize(Decimal(1), ROUND_HALF_UP))
                for i in eligible
            ]
        elif str(coupon.get("currency") or "").lower() == currency:
            parts = _largest_remainder(int(coupon["amount_off"]), [left[i] for i in eligible])
        else:
            parts = [0] * len(eligible)
        for i, part in zip(eligible, parts, strict=True):
            left[i] -= part
            out[i].append((d["id"], part))
    return out


def apply(ctx: Ctx, inv: Obj, discounts: list[Obj]) -> None:
    """Set ``discount_amounts`` on the lines and ``discounts``/``total_discount_amounts``
    on the invoice (totals are the caller's)."""
    lines = inv["lines"]["data"]
    items = [(li["amount"], _product(li), _discountable(li)) for li in lines]
    per_line = shares(ctx, items, discounts, inv["currency"])
    totals = {d["id"]: 0 for d in discounts}
    for li, parts in zip(lines, per_line, strict=True):
        li["discount_amounts"] = [{"amount": a, "discount": d} for d, a in parts]
        for d, a in parts:
            totals[d] += a
    inv["discounts"] = [d["id"] for d in discounts]
    inv["total_discount_amounts"] = [{"amount": a, "discount": d} for d, a in totals.items()]
    inv["_discount_data"] = [clean(ctx.state, d) | {"_coupon": d["_coupon"]} for d in discounts]
