"""Products and prices: building them from validated parameters.

Both routes need both builders (a price's ``product_data`` creates a product, a
product's ``default_price_data`` creates a price), so they live here, below the
``products`` and ``prices`` route modules, which import this one and not each other.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .context import Ctx
from .ids import new_id
from .params import decimal_str, metadata, one_of, opt_int, require, to_bool, to_decimal
from .state import Obj


def product_fields(obj: Obj, p: dict[str, Any]) -> None:
    for k in ("name", "description", "statement_descriptor", "tax_code", "unit_label", "url"):
        if k in p:
            obj[k] = p[k] or None
    if "active" in p:
        obj["active"] = to_bool(p["active"], "active")
    if "shippable" in p:
        obj["shippable"] = to_bool(p["shippable"], "shippable")
    if "images" in p:
        obj["images"] = list(p["images"] or [])
    if "marketing_features" in p:
        obj["marketing_features"] = [{"name": f["name"]} for f in p["marketing_features"] or []]
    obj["metadata"] = metadata(obj.get("metadata"), p.get("metadata"))


def new_product(ctx: Ctx, p: dict[str, Any]) -> Obj:
    """Create a product (``POST /v1/products`` or a price's ``product_data``)."""
    require(p, "name")
    pid = p.get("id") or new_id("prod")
    if ctx.state.get(pid) is not None:
        raise errors.StripeError(
            400, "Product already exists.", code="resource_already_exists", param="id"
        )
    now = ctx.now()
    obj: Obj = {
        "id": pid,
        "object": "product",
        "active": True,
        "created": now,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {},
        "name": p["name"],
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": now,
        "url": None,
    }
    product_fields(obj, p)
    ctx.state.put(obj)
    ctx.emit("product.created", obj)
    return obj


def _amount(
    p: dict[str, Any], int_key: str, dec_key: str, prefix: str
) -> tuple[int | None, str | None]:
    has_int, has_dec = p.get(int_key) not in (None, ""), p.get(dec_key) not in (None, "")
    if has_int and has_dec:
        raise errors.bad(
            f"{prefix}{dec_key}",
            f"You may only specify one of these parameters: {int_key}, {dec_key}.",
        )
    if has_int:
        value = opt_int(p, int_key)
        assert value is not None
        if value < 0:
            raise errors.bad(f"{prefix}{int_key}", "This value must be greater than or equal to 0.")
        return value, str(value)
    if has_dec:
        d = to_decimal(p[dec_key], f"{prefix}{dec_key}")
        if d < 0 or -d.as_tuple().exponent > 12:  # type: ignore[operator]
            raise errors.bad(f"{prefix}{dec_key}", f"Invalid decimal: {p[dec_key]}")
        text = decimal_str(d)
        return (int(d) if d == d.to_integral_value() else None), text
    return None, None


def _tiers(p: dict[str, Any]) -> list[dict[str, Any]]:
    raw = p.get("tiers")
    if not raw:
        raise errors.missing("tiers")
    tiers: list[dict[str, Any]] = []
    last_up: int | None = 0
    for i, t in enumerate(raw):
        prefix = f"tiers[{i}]"
        if t.get("up_to") in (None, ""):
            raise errors.missing(f"{prefix}[up_to]")
        up: int | None = None if t["up_to"] == "inf" else opt_int(t, "up_to", prefix)
        unit, unit_dec = _amount(t, "unit_amount", "unit_amount_decimal", f"{prefix}")
        flat, flat_dec = _amount(t, "flat_amount", "flat_amount_decimal", f"{prefix}")
        if unit_dec is None and flat_dec is None:
            raise errors.bad(
                prefix, f"Each tier must have `unit_amount` or `flat_amount` ({prefix})."
            )
        if last_up is None or (up is not None and up <= last_up):
            raise errors.bad(f"{prefix}[up_to]", "Tiers must be in increasing order of `up_to`.")
        last_up = up
        tiers.append(
            {
                "flat_amount": flat,
                "flat_amount_decimal": flat_dec,
                "unit_amount": unit,
                "unit_amount_decimal": unit_dec,
                "up_to": up,
            }
        )
    if tiers[-1]["up_to"] is not None:
        raise errors.bad(
            f"tiers[{len(tiers) - 1}][up_to]", "The last tier must have `up_to` set to `inf`."
        )
    return tiers


def check_lookup_key(ctx: Ctx, key: str, transfer: bool, own_id: str | None) -> None:
    for other in ctx.state.of("price"):
        if other.get("lookup_key") == key and other["id"] != own_id:
            if not transfer:
                raise errors.bad(
                    "lookup_key",
                    f"A price (`{other['id']}`) already uses that lookup key.",
                )
            other["lookup_key"] = None


def new_price(ctx: Ctx, p: dict[str, Any]) -> Obj:
    """Create a price from validated parameters (``POST /v1/prices``, ``product_data``
    creates its product, ``default_price_data`` of a new product)."""
    require(p, "currency")
    if not p.get("product") and not p.get("product_data"):
        raise errors.missing("product")
    if p.get("product_data"):
        product_id = new_product(ctx, p["product_data"])["id"]
    else:
        product_id = ctx.fetch(p["product"], "product", "product", "product")["id"]
    scheme = one_of(p.get("billing_scheme") or "per_unit", ("per_unit", "tiered"), "billing_scheme")
    unit, unit_dec = _amount(p, "unit_amount", "unit_amount_decimal", "")
    tiers, tiers_mode = None, None
    custom = p.get("custom_unit_amount")
    if scheme == "per_unit":
        if unit_dec is None and not custom:
            raise errors.missing("unit_amount")
    else:
        if unit_dec is not None:
            raise errors.bad(
                "unit_amount", "unit_amount cannot be used with billing_scheme=tiered."
            )
        if not p.get("tiers_mode"):
            raise errors.missing("tiers_mode")
        tiers_mode = one_of(p["tiers_mode"], ("graduated", "volume"), "tiers_mode")
        tiers = _tiers(p)
    transform = None
    if p.get("transform_quantity"):
        if scheme == "tiered":
            raise errors.bad(
                "transform_quantity", "Transform quantity is not supported with tiered pricing."
            )
        tq = p["transform_quantity"]
        require(tq, "divide_by", "round", prefix="transform_quantity")
        divide_by = opt_int(tq, "divide_by", "transform_quantity")
        assert divide_by is not None
        if divide_by < 1:
            raise errors.bad("transform_quantity[divide_by]", "divide_by must be at least 1.")
        transform = {
            "divide_by": divide_by,
            "round": one_of(tq["round"], ("up", "down"), "transform_quantity[round]"),
        }
    recurring = None
    if p.get("recurring"):
        r = p["recurring"]
        require(r, "interval", prefix="recurring")
        usage_type = one_of(
            r.get("usage_type") or "licensed", ("licensed", "metered"), "recurring[usage_type]"
        )
        meter = r.get("meter") or None
        if usage_type == "metered" and not meter:
            raise errors.bad(
                "recurring[meter]", "A meter is required for prices with `usage_type=metered`."
            )
        if meter:
            if usage_type != "metered":
                raise errors.bad(
                    "recurring[meter]",
                    "A meter can only be set on prices with `usage_type=metered`.",
                )
            ctx.fetch(meter, "billing.meter", "billing meter", "recurring[meter]")
        recurring = {
            "interval": one_of(
                r["interval"], ("day", "week", "month", "year"), "recurring[interval]"
            ),
            "interval_count": opt_int(r, "interval_count", "recurring") or 1,
            "meter": meter,
            "trial_period_days": opt_int(r, "trial_period_days", "recurring"),
            "usage_type": usage_type,
        }
    if p.get("lookup_key"):
        check_lookup_key(
            ctx,
            p["lookup_key"],
            to_bool(p.get("transfer_lookup_key", False), "transfer_lookup_key"),
            None,
        )
    obj: Obj = {
        "id": new_id("price"),
        "object": "price",
        "active": to_bool(p.get("active", True), "active"),
        "billing_scheme": scheme,
        "created": ctx.now(),
        "currency": str(p["currency"]).lower(),
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": p.get("lookup_key") or None,
        "metadata": metadata({}, p.get("metadata")),
        "nickname": p.get("nickname") or None,
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": p.get("tax_behavior") or "unspecified",
        "tiers": tiers,
        "tiers_mode": tiers_mode,
        "transform_quantity": transform,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit,
        "unit_amount_decimal": unit_dec,
    }
    if custom:
        obj["custom_unit_amount"] = {
            k: opt_int(custom, k, "custom_unit_amount") for k in ("maximum", "minimum", "preset")
        }
    ctx.state.put(obj)
    ctx.emit("price.created", obj)
    return obj
