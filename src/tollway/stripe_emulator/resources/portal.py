"""Billing portal sessions and configurations."""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..ids import new_id, rand
from ..params import MAP, PAGE, check, metadata, require
from ..render import expand_list, paginate, render
from ..router import router
from ..state import Obj


def _default_configuration(ctx: Ctx) -> Obj:
    for conf in ctx.state.of("billing_portal.configuration"):
        if conf["is_default"]:
            return conf
    return create_configuration(ctx, {"is_default": True}, [])


@router.post("/v1/billing_portal/configurations", "billing_portal")
def create_configuration(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    check(
        p,
        {
            "business_profile": MAP,
            "features": MAP,
            "default_return_url": None,
            "metadata": MAP,
            "login_page": MAP,
            "name": None,
            "is_default": None,
        },
    )
    obj: Obj = {
        "id": new_id("bpc"),
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": p.get("business_profile") or {},
        "created": ctx.now(),
        "default_return_url": p.get("default_return_url") or None,
        "features": p.get("features")
        or {
            "subscription_cancel": {"enabled": True, "mode": "at_period_end"},
            "payment_method_update": {"enabled": True},
            "invoice_history": {"enabled": True},
        },
        "is_default": p.get("is_default") in (True, "true"),
        "livemode": False,
        "login_page": {"enabled": False, "url": None},
        "metadata": metadata({}, p.get("metadata")),
        "name": p.get("name") or None,
        "updated": ctx.now(),
    }
    ctx.state.put(obj)
    return render(ctx.state, obj, expand_list(p))


@router.get("/v1/billing_portal/configurations", "billing_portal")
def list_configurations(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    check(
        p,
        {
            "active": None,
            "is_default": None,
            **PAGE,
        },
    )
    return paginate(
        ctx.state,
        ctx.state.of("billing_portal.configuration"),
        p,
        "/v1/billing_portal/configurations",
    )


@router.post("/v1/billing_portal/sessions", "billing_portal")
def create_session(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    check(
        p,
        {
            "customer": None,
            "return_url": None,
            "configuration": None,
            "flow_data": MAP,
            "locale": None,
            "on_behalf_of": None,
            "customer_account": None,
        },
    )
    require(p, "customer")
    customer = ctx.fetch(p["customer"], "customer", "customer", "customer")
    conf = (
        ctx.fetch(
            p["configuration"],
            "billing_portal.configuration",
            "billing portal configuration",
            "configuration",
        )
        if p.get("configuration")
        else _default_configuration(ctx)
    )
    secret = rand(32)
    obj: Obj = {
        "id": new_id("bps"),
        "object": "billing_portal.session",
        "configuration": conf["id"],
        "created": ctx.now(customer.get("test_clock")),
        "customer": customer["id"],
        "flow": None,
        "livemode": False,
        "locale": p.get("locale") or None,
        "on_behalf_of": None,
        "return_url": p.get("return_url") or conf.get("default_return_url"),
        "url": f"{ctx.api_base}/portal/session/{secret}",
        "_secret": secret,
    }
    ctx.state.put(obj)
    return render(ctx.state, obj, expand_list(p))
