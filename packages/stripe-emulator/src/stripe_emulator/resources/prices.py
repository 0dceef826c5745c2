"""Prices: per-unit (integer or decimal), tiered graduated/volume, package, metered."""

from __future__ import annotations

from typing import Any

from ..catalog import check_lookup_key, new_price
from ..context import Ctx
from ..params import metadata, to_bool
from ..render import expand_list, paginate, render
from ..router import router
from ..state import Obj


@router.post("/v1/prices", "plan")
def create(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    return render(ctx.state, new_price(ctx, p), expand_list(p))


@router.get("/v1/prices/{id}", "plan")
def retrieve(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return ctx.retrieve(p, ids[0], "price", "price")


@router.post("/v1/prices/{id}", "plan")
def update(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    obj = ctx.fetch(ids[0], "price", "price")
    before = {k: obj.get(k) for k in p if k in obj}
    if "lookup_key" in p:
        if p["lookup_key"]:
            check_lookup_key(
                ctx,
                p["lookup_key"],
                to_bool(p.get("transfer_lookup_key", False), "transfer_lookup_key"),
                obj["id"],
            )
        obj["lookup_key"] = p["lookup_key"] or None
    if "active" in p:
        obj["active"] = to_bool(p["active"], "active")
    if "nickname" in p:
        obj["nickname"] = p["nickname"] or None
    if "tax_behavior" in p:
        obj["tax_behavior"] = p["tax_behavior"]
    obj["metadata"] = metadata(obj["metadata"], p.get("metadata"))
    ctx.emit("price.updated", obj, previous=before)
    return render(ctx.state, obj, expand_list(p))


@router.get("/v1/prices", "plan")
def list_(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    items = ctx.state.of("price")
    if "active" in p:
        active = to_bool(p["active"], "active")
        items = [o for o in items if o["active"] == active]
    for field in ("product", "type", "currency"):
        if p.get(field):
            items = [o for o in items if o[field] == p[field]]
    if p.get("lookup_keys"):
        items = [o for o in items if o.get("lookup_key") in p["lookup_keys"]]
    return paginate(ctx.state, items, p, "/v1/prices")
