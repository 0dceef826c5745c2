"""Invoices: list, retrieve, lines, pay, create_preview."""

from __future__ import annotations

from typing import Any

from .. import errors
from ..billing import attempt_payment, new_invoice, preview_lines
from ..context import Ctx
from ..ids import rand
from ..lifecycle import after_payment
from ..render import expand_list, paginate, render
from ..router import router
from ..state import Obj


@router.get("/v1/invoices", "invoice")
def list_(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    items = ctx.state.of("invoice")
    for field in ("customer", "subscription", "status"):
        if p.get(field):
            items = [i for i in items if i.get(field) == p[field]]
    return paginate(ctx.state, items, p, "/v1/invoices")


@router.get("/v1/invoices/{id}", "invoice")
def retrieve(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return ctx.retrieve(p, ids[0], "invoice", "invoice")


@router.get("/v1/invoices/{id}/lines", "invoice")
def lines(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    inv = ctx.fetch(ids[0], "invoice", "invoice")
    return paginate(ctx.state, list(inv["lines"]["data"]), p, f"/v1/invoices/{inv['id']}/lines")


@router.post("/v1/invoices/{id}/pay", "invoice")
def pay(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    inv = ctx.fetch(ids[0], "invoice", "invoice")
    if inv["status"] != "open":
        raise errors.bad(None, f"Invoice is already {inv['status']}.")
    at = ctx.now(inv.get("test_clock"))
    if p.get("paid_out_of_band") in ("true", True):
        from ..billing import mark_paid

        mark_paid(ctx, inv, at)
        result = "paid"
    else:
        result = attempt_payment(ctx, inv, at, off_session=True, retries=False)
    sub = ctx.state.get(inv["subscription"]) if inv.get("subscription") else None
    if sub is not None:
        after_payment(ctx, sub, result, at)
    if result != "paid":
        raise errors.card_declined(
            "generic_decline", inv.get("_last_payment_error") or "Your card was declined."
        )
    return render(ctx.state, inv, expand_list(p))


@router.post("/v1/invoices/create_preview", "invoice")
def create_preview(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    sub: Obj | None = None
    if p.get("subscription"):
        sub = ctx.fetch(p["subscription"], "subscription", "subscription", "subscription")
    elif p.get("customer"):
        cus = ctx.fetch(p["customer"], "customer", "customer", "customer")
        live = [
            s
            for s in ctx.state.of("subscription")
            if s["customer"] == cus["id"] and s["status"] not in ("canceled", "incomplete_expired")
        ]
        sub = live[0] if len(live) == 1 else None
    else:
        raise errors.bad(None, "You must specify one of `customer` or `subscription`.")
    if sub is None or sub["status"] in ("canceled", "incomplete_expired"):
        raise errors.StripeError(
            404,
            f"No upcoming invoices for customer: {p.get('customer') or p.get('subscription')}",
            code="invoice_upcoming_none",
        )
    customer = ctx.fetch(sub["customer"], "customer", "customer", "customer")
    items, period = preview_lines(ctx, sub)
    inv = new_invoice(
        ctx,
        sub,
        customer,
        items,
        reason="upcoming",
        period=period,
        created=ctx.now(sub.get("test_clock")),
    )
    inv["id"] = f"upcoming_in_{rand(24)}"
    for li in inv["lines"]["data"]:
        li["invoice"] = inv["id"]
    inv["lines"]["url"] = "/v1/invoices/upcoming/lines"
    inv["automatically_finalizes_at"] = period[1]
    return render(ctx.state, inv, expand_list(p))
