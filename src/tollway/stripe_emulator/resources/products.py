"""Products."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..context import Ctx
from ..ids import new_id
from ..params import MAP, PAGE, check, metadata, require, to_bool
from ..render import expand_list, paginate, render
from ..router import router
from ..state import Obj
from . import prices

_PRICE_DATA = {
    "currency": None,
    "unit_amount": None,
    "unit_amount_decimal": None,
    "recurring": {"interval": None, "interval_count": None},
    "tax_behavior": None,
    "metadata": MAP,
}
_CREATE = {
    "name": None,
    "id": None,
    "active": None,
    "description": None,
    "metadata": MAP,
    "default_price_data": _PRICE_DATA,
    "images": [None],
    "marketing_features": [{"name": None}],
    "shippable": None,
    "statement_descriptor": None,
    "tax_code": None,
    "unit_label": None,
    "url": None,
}
_UPDATE = {k: v for k, v in _CREATE.items() if k not in ("id", "default_price_data")}
_UPDATE["default_price"] = None


def _fields(obj: Obj, p: dict[str, Any]) -> None:
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


@router.post("/v1/products", "product")
def create(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    check(p, _CREATE)
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
    _fields(obj, p)
    ctx.state.put(obj)
    ctx.emit("product.created", obj)
    if p.get("default_price_data"):
        price = prices.build(ctx, {**p["default_price_data"], "product": pid}, "default_price_data")
        obj["default_price"] = price["id"]
    return render(ctx.state, obj, expand_list(p))


@router.get("/v1/products/{id}", "product")
def retrieve(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return ctx.retrieve(p, ids[0], "product", "product")


@router.post("/v1/products/{id}", "product")
def update(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    check(p, _UPDATE)
    obj = ctx.fetch(ids[0], "product", "product")
    before = {k: obj.get(k) for k in p if k in obj}
    if "default_price" in p:
        if p["default_price"]:
            price = ctx.fetch(p["default_price"], "price", "price", "default_price")
            if price["product"] != obj["id"]:
                raise errors.bad("default_price", "The price must belong to this product.")
        obj["default_price"] = p["default_price"] or None
    _fields(obj, p)
    obj["updated"] = ctx.now()
    ctx.emit("product.updated", obj, previous=before)
    return render(ctx.state, obj, expand_list(p))


@router.get("/v1/products", "product")
def list_(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    check(
        p,
        {
            "active": None,
            "ids": [None],
            **PAGE,
            "created": MAP,
            "shippable": None,
            "url": None,
        },
    )
    items = ctx.state.of("product")
    if "active" in p:
        active = to_bool(p["active"], "active")
        items = [o for o in items if o["active"] == active]
    if p.get("ids"):
        items = [o for o in items if o["id"] in p["ids"]]
    return paginate(ctx.state, items, p, "/v1/products")


@router.delete("/v1/products/{id}", "product")
def delete(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    check(p, {})
    obj = ctx.fetch(ids[0], "product", "product")
    if any(pr["product"] == obj["id"] for pr in ctx.state.of("price")):
        raise errors.bad(
            None, "This product cannot be deleted because it has one or more user-created prices."
        )
    del ctx.state.objects[obj["id"]]
    ctx.emit("product.deleted", obj)
    return {"id": obj["id"], "object": "product", "deleted": True}
