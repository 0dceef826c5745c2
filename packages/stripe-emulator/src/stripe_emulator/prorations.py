"""Prorations as Stripe computes them when a subscription's licensed items change.

For each licensed item whose price or quantity changes at ``proration_date`` inside the
current period, Stripe credits the unused time of the old price and charges the
remaining time of the new one, each ``amount x quantity x remaining / period`` rounded
to the minor unit, as two invoice lines (``Unused time on …`` negative, ``Remaining time
on …`` positive) marked ``proration: true``. Metered items are billed on usage and
never prorated. ``proration_behavior``: ``create_prorations`` (default) adds the lines
to the next invoice, ``always_invoice`` invoices them at once, ``none`` skips them.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from . import errors
from .billing import is_metered, item_quantity, line
from .context import Ctx
from .params import opt_int, to_bool
from .render import clean
from .state import Obj
from .subscribe import build_items

BEHAVIORS = ("create_prorations", "always_invoice", "none")


def apply_item_changes(
    ctx: Ctx, sub: Obj, items: list[dict[str, Any]], at: int, prefix: str = "items"
) -> list[Obj]:
    """The subscription's items after ``items`` (the ``items[]`` update parameter):
    ``id`` with ``price``/``quantity``/``deleted``, or a new ``price``. Does not store."""
    data: list[Obj] = copy.deepcopy(sub["items"]["data"])
    for i, it in enumerate(items):
        param = f"{prefix}[{i}]"
        if it.get("id"):
            item = next((x for x in data if x["id"] == it["id"]), None)
            if item is None:
                raise errors.no_such("subscription_item", it["id"], f"{param}[id]")
            if it.get("deleted") and to_bool(it["deleted"], f"{param}[deleted]"):
                data.remove(item)
                continue
            if it.get("price"):
                price = ctx.fetch(it["price"], "price", "price", f"{param}[price]")
                if price["id"] != item["price"]["id"]:
                    item["_usage_from"] = at  # the new price bills usage from now on
                item["price"] = clean(ctx.state, price)
            if it.get("quantity") not in (None, ""):
                item["quantity"] = opt_int(it, "quantity", param)
        else:
            new = build_items(ctx, sub["id"], [it], at)[0]
            new["current_period_start"] = data[0]["current_period_start"] if data else at
            new["current_period_end"] = data[0]["current_period_end"] if data else at
            new["_usage_from"] = at
            data.append(new)
    if not data:
        raise errors.bad(prefix, "A subscription must have at least one active item.")
    return data


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d %b %Y")


def _prorated(ctx: Ctx, sub: Obj, item: Obj, sign: int, at: int, text: str) -> Obj:
    start = item["current_period_start"]
    end = item["current_period_end"]
    quantity = Decimal(item.get("quantity") or 1)
    full = line(ctx, sub, item, quantity, at, end)
    share = Decimal(end - at) / Decimal(max(end - start, 1))
    amount = int((Decimal(full["amount"]) * share).quantize(Decimal(1), ROUND_HALF_UP)) * sign
    li = line(ctx, sub, item, quantity, at, end, amount=amount)
    price = ctx.state.get(item["price"]["id"]) or item["price"]
    product = ctx.state.get(price["product"]) or {"name": price["product"]}
    li["description"] = f"{text} time on {quantity} x {product['name']} after {_day(at)}"
    details = li["parent"]["subscription_item_details"]
    details["proration"] = True
    return li


def proration_lines(ctx: Ctx, sub: Obj, after: list[Obj], at: int) -> list[Obj]:
    """Credit and charge lines for every licensed item that changes at ``at``."""
    start = sub["items"]["data"][0]["current_period_start"]
    end = sub["items"]["data"][0]["current_period_end"]
    if not start <= at < end:
        return []
    before = {i["id"]: i for i in sub["items"]["data"]}
    now = {i["id"]: i for i in after}
    lines: list[Obj] = []
    for item_id, old in before.items():
        if is_metered(ctx, old):
            continue
        new = now.get(item_id)
        same = new is not None and (
            new["price"]["id"] == old["price"]["id"] and new.get("quantity") == old.get("quantity")
        )
        if same:
            continue
        lines.append(_prorated(ctx, sub, old, -1, at, "Unused"))
        if new is not None:
            lines.append(_prorated(ctx, sub, new, 1, at, "Remaining"))
    for item_id, new in now.items():
        if item_id not in before and not is_metered(ctx, new):
            lines.append(_prorated(ctx, sub, new, 1, at, "Remaining"))
    return lines


def metered_swap_lines(ctx: Ctx, sub: Obj, after: list[Obj], at: int) -> list[Obj]:
    """``billing_mode=flexible``: the usage so far of each metered item that loses its
    price (swapped or deleted) is billed at the old price, as an item subject to
    ``proration_behavior``. ``classic`` bills nothing for it: only the usage after the
    change reaches an invoice, at the new price (Stripe's "Update prices mid-cycle")."""
    if (sub.get("billing_mode") or {}).get("type") != "flexible":
        return []
    start = sub["items"]["data"][0]["current_period_start"]
    now = {i["id"]: i for i in after}
    lines: list[Obj] = []
    for old in sub["items"]["data"]:
        new = now.get(old["id"])
        if not is_metered(ctx, old) or (
            new is not None and new["price"]["id"] == old["price"]["id"]
        ):
            continue
        quantity = item_quantity(ctx, old, sub["customer"], start, at)
        li = line(ctx, sub, old, quantity, max(start, int(old.get("_usage_from") or start)), at)
        li["description"] = f"{li['description']} (usage until {_day(at)})"
        li["_fixed"] = True  # an invoice item: not re-rated when the draft is finalized
        lines.append(li)
    return lines


def behavior(value: Any, param: str = "proration_behavior") -> str:
    if value in (None, ""):
        return "create_prorations"
    if value not in BEHAVIORS:
        raise errors.bad(param, f"Invalid {param}: must be one of {', '.join(BEHAVIORS)}")
    return str(value)
