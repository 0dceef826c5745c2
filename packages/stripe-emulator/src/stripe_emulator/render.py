"""Render stored objects as API responses: hide internals, expand ids, paginate lists."""

from __future__ import annotations

import copy
from typing import Any

from . import errors
from .params import opt_int
from .state import EmulatorState, Obj

#: Fields Stripe only includes when asked with ``expand[]``.
_INCLUDABLE = {"price": ("tiers",), "checkout.session": ("line_items",)}


def clean(state: EmulatorState, node: Any) -> Any:
    if isinstance(node, dict):
        kind = node.get("object")
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k.startswith("_") or k in _INCLUDABLE.get(str(kind), ()):
                continue
            out[k] = clean(state, v)
        if kind == "subscription_item" and isinstance(node.get("price"), dict):
            current = state.get(node["price"]["id"])
            if current is not None:
                out["price"] = clean(state, current)
            out["plan"] = plan_of(out["price"])
        return out
    if isinstance(node, list):
        return [clean(state, v) for v in node]
    return node


def plan_of(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy ``plan`` view of a recurring price, still sent on subscription items."""
    rec = price.get("recurring") or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price.get("unit_amount"),
        "amount_decimal": price.get("unit_amount_decimal"),
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": rec.get("interval"),
        "interval_count": rec.get("interval_count"),
        "livemode": False,
        "metadata": price.get("metadata", {}),
        "meter": rec.get("meter"),
        "nickname": price.get("nickname"),
        "product": price["product"],
        "tiers_mode": price.get("tiers_mode"),
        "transform_usage": price.get("transform_quantity"),
        "trial_period_days": rec.get("trial_period_days"),
        "usage_type": rec.get("usage_type"),
    }


def _virtual(state: EmulatorState, stored: Obj, field: str) -> Any:
    if stored.get("object") == "price" and field == "tiers":
        return copy.deepcopy(stored.get("tiers"))
    if stored.get("object") == "checkout.session" and field == "line_items":
        data = [clean(state, li) for li in stored.get("_line_items", [])]
        return {
            "object": "list",
            "data": data,
            "has_more": False,
            "url": f"/v1/checkout/sessions/{stored['id']}/line_items",
        }
    return None


def _expand(state: EmulatorState, node: Any, parts: list[str], param: str) -> Any:
    if not parts:
        return node
    if isinstance(node, list):
        return [_expand(state, item, parts, param) for item in node]
    if not isinstance(node, dict):
        return node
    head, rest = parts[0], parts[1:]
    stored = state.get(str(node.get("id"))) if node.get("id") else None
    if head not in node:
        value = _virtual(state, stored or node, head)
        if value is None:
            raise errors.bad(
                "expand",
                f"This property cannot be expanded ({param}). "
                "You may want to try expanding 'data." + param + "' instead."
                if head == "data"
                else f"This property cannot be expanded ({param}).",
            )
        node[head] = value
    value = node[head]
    if isinstance(value, str) and state.get(value) is not None:
        value = clean(state, state.get(value))
    elif isinstance(value, list) and head != "data":  # a list of ids (e.g. discounts)
        value = [
            clean(state, state.get(v)) if isinstance(v, str) and state.get(v) is not None else v
            for v in value
        ]
    node[head] = _expand(state, value, rest, param)
    return node


def render(state: EmulatorState, obj: Obj, expand: list[str] | None = None) -> Obj:
    out: Obj = clean(state, obj)
    for path in expand or []:
        parts = path.split(".")
        if len(parts) > 4:
            raise errors.bad("expand", f"You cannot expand more than 4 levels ({path}).")
        _expand(state, out, parts, path)
    return out


def expand_list(params: dict[str, Any]) -> list[str]:
    raw = params.get("expand")
    if raw in (None, ""):
        return []
    if isinstance(raw, str):
        return [raw]
    return [str(x) for x in raw]


def paginate(state: EmulatorState, items: list[Obj], params: dict[str, Any], url: str) -> Obj:
    """Stripe list object over items already in list order (newest first)."""
    limit = opt_int(params, "limit")
    if limit is None:
        limit = 10
    if not 1 <= limit <= 100:
        raise errors.bad("limit", "Invalid limit: must be between 1 and 100")
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise errors.bad(
            "ending_before",
            "You may only specify one of these parameters: ending_before, starting_after.",
        )
    ids = [o["id"] for o in items]
    if after:
        if after not in ids:
            raise errors.no_such("object", str(after), "starting_after")
        start = ids.index(after) + 1
        page, has_more = items[start : start + limit], start + limit < len(items)
    elif before:
        if before not in ids:
            raise errors.no_such("object", str(before), "ending_before")
        end = ids.index(before)
        start = max(0, end - limit)
        page, has_more = items[start:end], start > 0
    else:
        page, has_more = items[:limit], limit < len(items)
    expands = [e[len("data.") :] for e in expand_list(params) if e.startswith("data.")]
    return {
        "object": "list",
        "data": [render(state, o, expands) for o in page],
        "has_more": has_more,
        "url": url,
    }
