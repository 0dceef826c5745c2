"""Invoices: list, retrieve, lines, pay, create_preview."""

from __future__ import annotations

from typing import Any

from .. import errors, preview
from ..billing import attempt_payment, subscription_of
from ..context import Ctx
from ..discounts import redeem
from ..ids import rand
from ..lifecycle import after_payment
from ..params import to_bool
from ..render import expand_list, paginate, render
from ..router import router
from ..state import Obj


@router.get("/v1/invoices", "invoice")
def list_(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    items = ctx.state.of("invoice")
    for field in ("customer", "status"):
        if p.get(field):
            items = [i for i in items if i.get(field) == p[field]]
    if p.get("subscription"):
        items = [i for i in items if i.get("_subscription") == p["subscription"]]
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
    sub = subscription_of(ctx, inv)
    if sub is not None:
        after_payment(ctx, sub, result, at)
    if result != "paid":
        raise errors.card_declined(
            "generic_decline", inv.get("_last_payment_error") or "Your card was declined."
        )
    return render(ctx.state, inv, expand_list(p))


@router.post("/v1/invoices/create_preview", "invoice")
def create_preview(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    """The invoice Stripe would issue next: for an existing subscription (with
    ``subscription_details`` changes and their prorations), for a new subscription made
    of ``subscription_details[items]``, or for the customer's only subscription."""
    details: dict[str, Any] = p.get("subscription_details") or {}
    extra = _extra(ctx, p)
    if p.get("subscription"):
        sub = ctx.fetch(p["subscription"], "subscription", "subscription", "subscription")
        if sub["status"] in ("canceled", "incomplete_expired"):
            raise _no_upcoming(p["subscription"])
        customer = ctx.fetch(sub["customer"], "customer", "customer", "customer")
        if p.get("customer") and p["customer"] != customer["id"]:
            raise errors.bad("customer", "The subscription does not belong to this customer.")
        return _render_preview(ctx, p, *preview.existing(ctx, sub, customer, details, extra))
    if not p.get("customer"):
        raise errors.bad(
            None,
            "You must specify one of `customer`, `customer_details`, `subscription`, or "
            "`schedule` to preview an invoice.",
        )
    customer = ctx.fetch(p["customer"], "customer", "customer", "customer")
    if details.get("items"):
        return _render_preview(ctx, p, *preview.new_subscription(ctx, customer, details, extra))
    live = [
        s
        for s in ctx.state.of("subscription")
        if s["customer"] == customer["id"] and s["status"] not in ("canceled", "incomplete_expired")
    ]
    if len(live) != 1:
        raise _no_upcoming(customer["id"])
    return _render_preview(ctx, p, *preview.existing(ctx, live[0], customer, details, extra))


def _extra(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    """``discounts`` (replacing the subscription's) and ``automatic_tax`` of a preview."""
    out: dict[str, Any] = {}
    if "discounts" in p:
        at = ctx.now()
        out["discounts"] = redeem(ctx, p["discounts"] or [], customer=p.get("customer"), at=at,
                                  store=False)  # fmt: skip
    if p.get("automatic_tax"):
        out["automatic_tax"] = to_bool(p["automatic_tax"].get("enabled", False),
                                       "automatic_tax[enabled]")  # fmt: skip
    return out


def _no_upcoming(who: str) -> errors.StripeError:
    return errors.StripeError(
        404, f"No upcoming invoices for customer: {who}", code="invoice_upcoming_none"
    )


def _render_preview(ctx: Ctx, p: dict[str, Any], inv: Obj, finalizes_at: int | None) -> Obj:
    inv["id"] = f"upcoming_in_{rand(24)}"
    for li in inv["lines"]["data"]:
        li["invoice"] = inv["id"]
    inv["lines"]["url"] = f"/v1/invoices/{inv['id']}/lines"
    inv["automatically_finalizes_at"] = finalizes_at
    return render(ctx.state, inv, expand_list(p))
