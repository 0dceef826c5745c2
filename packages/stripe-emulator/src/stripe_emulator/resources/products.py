"""Products."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..catalog import new_price, new_product, product_fields
from ..context import Ctx
from ..params import to_bool
from ..render import expand_list, paginate, render
from ..router import router
from ..state import Obj


@router.post("/v1/products", "product")
def create(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    obj = new_product(ctx, p)
    if p.get("default_price_data"):
        price = new_price(ctx, {**p["default_price_data"], "product": obj["id"]})
        obj["default_price"] = price["id"]
    return render(ctx.state, obj, expand_list(p))


@router.get("/v1/products/{id}", "product")
def retrieve(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return ctx.retrieve(p, ids[0], "product", "product")


@router.post("/v1/products/{id}", "product")
def update(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    obj = ctx.fetch(ids[0], "product", "product")
    before = {k: obj.get(k) for k in p if k in obj}
    if "default_price" in p:
        if p["default_price"]:
            price = ctx.fetch(p["default_price"], "price", "price", "default_price")
            if price["product"] != obj["id"]:
                raise errors.bad("default_price", "The price must belong to this product.")
        obj["default_price"] = p["default_price"] or None
    product_fields(obj, p)
    obj["updated"] = ctx.now()
    ctx.emit("product.updated", obj, previous=before)
    return render(ctx.state, obj, expand_list(p))


@router.get("/v1/products", "product")
def list_(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    items = ctx.state.of("product")
    if "active" in p:
        active = to_bool(p["active"], "active")
        items = [o for o in items if o["active"] == active]
    if p.get("ids"):
        items = [o for o in items if o["id"] in p["ids"]]
    return paginate(ctx.state, items, p, "/v1/products")


@router.delete("/v1/products/{id}", "product")
def delete(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    obj = ctx.fetch(ids[0], "product", "product")
    if any(pr["product"] == obj["id"] for pr in ctx.state.of("price")):
        raise errors.bad(
            None, "This product cannot be deleted because it has one or more user-created prices."
        )
    del ctx.state.objects[obj["id"]]
    ctx.emit("product.deleted", obj)
    return {"id": obj["id"], "object": "product", "deleted": True}
