"""PaymentIntents: create (optionally ``confirm``, ``off_session``), retrieve, confirm,
cancel, list."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..context import Ctx
from ..params import metadata, opt_int, require, to_bool
from ..payments import confirm, new_intent
from ..render import expand_list, paginate, render
from ..router import router
from ..state import Obj
from .customers import resolve_pm


@router.post("/v1/payment_intents", "payment_intent")
def create(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    require(p, "amount", "currency")
    amount = opt_int(p, "amount")
    assert amount is not None
    if amount < 50:
        raise errors.StripeError(
            400,
            "Amount must be at least $0.50 usd",
            code="amount_too_small",
            param="amount",
        )
    customer = (
        ctx.fetch(p["customer"], "customer", "customer", "customer") if p.get("customer") else None
    )
    off_session = to_bool(p.get("off_session", False), "off_session")
    if off_session and not to_bool(p.get("confirm", False), "confirm"):
        raise errors.bad("off_session", "off_session can only be used with confirm=true.")
    pm_id = None
    if p.get("payment_method"):
        pm_id = resolve_pm(ctx, p["payment_method"], "payment_method")["id"]
    at = ctx.now((customer or {}).get("test_clock"))
    pi = new_intent(
        ctx,
        amount=amount,
        currency=str(p["currency"]).lower(),
        customer=customer["id"] if customer else None,
        payment_method=pm_id,
        at=at,
        setup_future_usage=p.get("setup_future_usage") or None,
        metadata=metadata({}, p.get("metadata")),
        description=p.get("description") or None,
    )
    if to_bool(p.get("confirm", False), "confirm"):
        confirm(ctx, pi, off_session=off_session, at=at)
    return render(ctx.state, pi, expand_list(p))


@router.get("/v1/payment_intents/{id}", "payment_intent")
def retrieve(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return ctx.retrieve(p, ids[0], "payment_intent", "payment_intent")


@router.post("/v1/payment_intents/{id}/confirm", "payment_intent")
def confirm_(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    pi = ctx.fetch(ids[0], "payment_intent", "payment_intent")
    if pi["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise errors.StripeError(
            400,
            f"This PaymentIntent's status is {pi['status']}; it cannot be confirmed.",
            code="payment_intent_unexpected_state",
        )
    if p.get("payment_method"):
        pi["payment_method"] = resolve_pm(ctx, p["payment_method"], "payment_method")["id"]
    off_session = to_bool(p.get("off_session", False), "off_session")
    confirm(ctx, pi, off_session=off_session, at=ctx.now())
    return render(ctx.state, pi, expand_list(p))


@router.post("/v1/payment_intents/{id}/cancel", "payment_intent")
def cancel(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    pi = ctx.fetch(ids[0], "payment_intent", "payment_intent")
    if pi["status"] in ("succeeded", "canceled"):
        raise errors.StripeError(
            400,
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}.",
            code="payment_intent_unexpected_state",
        )
    pi["status"] = "canceled"
    pi["canceled_at"] = ctx.now()
    pi["cancellation_reason"] = p.get("cancellation_reason") or None
    ctx.emit("payment_intent.canceled", pi)
    return render(ctx.state, pi, expand_list(p))


@router.get("/v1/payment_intents", "payment_intent")
def list_(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    items = ctx.state.of("payment_intent")
    if p.get("customer"):
        items = [i for i in items if i.get("customer") == p["customer"]]
    return paginate(ctx.state, items, p, "/v1/payment_intents")
