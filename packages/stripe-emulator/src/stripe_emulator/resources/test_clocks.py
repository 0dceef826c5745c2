"""Test clocks: frozen time per customer; advancing closes periods and sends events."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..context import Ctx
from ..ids import new_id
from ..lifecycle import run_due
from ..params import opt_int, require
from ..render import expand_list, paginate, render
from ..router import router
from ..state import Obj


@router.post("/v1/test_helpers/test_clocks", "test_clock")
def create(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    require(p, "frozen_time")
    frozen = opt_int(p, "frozen_time")
    assert frozen is not None
    obj: Obj = {
        "id": new_id("clock"),
        "object": "test_helpers.test_clock",
        "created": ctx.now(),
        "deletes_after": ctx.now() + 30 * 86400,
        "frozen_time": frozen,
        "livemode": False,
        "name": p.get("name") or None,
        "status": "ready",
        "status_details": {},
    }
    ctx.state.put(obj)
    ctx.emit("test_helpers.test_clock.created", obj)
    return render(ctx.state, obj, expand_list(p))


@router.get("/v1/test_helpers/test_clocks/{id}", "test_clock")
def retrieve(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return ctx.retrieve(p, ids[0], "test_helpers.test_clock", "test_clock")


@router.get("/v1/test_helpers/test_clocks", "test_clock")
def list_(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    return paginate(
        ctx.state, ctx.state.of("test_helpers.test_clock"), p, "/v1/test_helpers/test_clocks"
    )


@router.delete("/v1/test_helpers/test_clocks/{id}", "test_clock")
def delete(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    clock = ctx.fetch(ids[0], "test_helpers.test_clock", "test_clock")
    for obj in list(ctx.state.objects.values()):
        if obj.get("test_clock") == clock["id"] or obj.get("_clock") == clock["id"]:
            del ctx.state.objects[obj["id"]]
    del ctx.state.objects[clock["id"]]
    ctx.emit("test_helpers.test_clock.deleted", clock)
    return {"id": clock["id"], "object": "test_helpers.test_clock", "deleted": True}


@router.post("/v1/test_helpers/test_clocks/{id}/advance", "test_clock")
def advance(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    require(p, "frozen_time")
    clock = ctx.fetch(ids[0], "test_helpers.test_clock", "test_clock")
    target = opt_int(p, "frozen_time")
    assert target is not None
    if target <= clock["frozen_time"]:
        raise errors.bad(
            "frozen_time",
            "The test clock can only be advanced to a time after "
            f"its current frozen_time ({clock['frozen_time']}).",
        )
    clock["status"] = "advancing"
    clock["status_details"] = {"advancing": {"target_frozen_time": target}}
    ctx.emit("test_helpers.test_clock.advancing", clock)
    run_due(ctx, clock["id"], target)
    clock["frozen_time"] = target
    clock["status"] = "ready"
    clock["status_details"] = {}
    ctx.emit("test_helpers.test_clock.ready", clock, created=ctx.now())
    return render(ctx.state, clock, expand_list(p))
