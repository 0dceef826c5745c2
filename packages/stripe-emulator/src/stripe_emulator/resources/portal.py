"""Billing portal sessions and configurations."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..context import Ctx
from ..ids import new_id, rand
from ..params import metadata, require
from ..render import expand_list, paginate, render
from ..router import router
from ..state import Obj

#: Stripe's answer in test mode before the portal settings were saved in the Dashboard.
NOT_CONFIGURED = (
    "No configuration provided and your test mode default configuration has not been "
    "created. Provide a configuration or create your default by saving your customer "
    "portal settings in test mode at https://dashboard.stripe.com/test/settings/billing/portal."
)


def default_configuration(ctx: Ctx) -> Obj | None:
    for conf in ctx.state.of("billing_portal.configuration"):
        if conf["is_default"]:
            return conf
    return None


def save_default_configuration(ctx: Ctx) -> Obj:
    """What saving the portal settings in the Dashboard does: the default configuration."""
    return default_configuration(ctx) or new_configuration(ctx, {}, is_default=True)


@router.post("/v1/billing_portal/configurations", "customer_portal")
def create_configuration(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    return render(ctx.state, new_configuration(ctx, p, is_default=False), expand_list(p))


def new_configuration(ctx: Ctx, p: dict[str, Any], *, is_default: bool) -> Obj:
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
        "is_default": is_default,
        "livemode": False,
        "login_page": {"enabled": False, "url": None},
        "metadata": metadata({}, p.get("metadata")),
        "name": p.get("name") or None,
        "updated": ctx.now(),
    }
    return ctx.state.put(obj)


@router.get("/v1/billing_portal/configurations", "customer_portal")
def list_configurations(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    return paginate(
        ctx.state,
        ctx.state.of("billing_portal.configuration"),
        p,
        "/v1/billing_portal/configurations",
    )


@router.post("/v1/billing_portal/sessions", "customer_portal")
def create_session(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
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
        else default_configuration(ctx)
    )
    if conf is None:
        raise errors.bad(None, NOT_CONFIGURED)
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
