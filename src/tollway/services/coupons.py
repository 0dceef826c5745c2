"""Coupons and promotion codes: a publisher (or admin) creates a coupon through Tollway
(percent or amount off, once / repeating / forever; a Stripe coupon, with a promotion
code if given). Consumers enter the code in Checkout (promotion codes are allowed there)
or redeem it on a live subscription; Tollway's estimate then includes the discount."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.errors import Conflict
from tollway.domain.principal import Principal
from tollway.pricing.discounts import parse_coupon
from tollway.store import billing_repo, coupons_repo


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "name", "spec", "promotion_code", "created_at")}


def create(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    *,
    name: str,
    spec: dict[str, Any],
    promotion_code: str | None,
) -> dict[str, Any]:
    caller.require("publisher")
    coupon = parse_coupon(spec, ("coupon",))
    org = caller.organization_id
    if not billing_repo.stripe_configured(conn, org):
        raise Conflict("connect Stripe first: coupons are Stripe coupons")
    if promotion_code and coupons_repo.find_code(conn, org, promotion_code) is not None:
        raise Conflict("this promotion code is already in use")
    row = coupons_repo.create(
        conn, org, {"name": name, "spec": dict(spec), "promotion_code": promotion_code},
        ctx.clock.now(),
    )  # fmt: skip
    coupon_id, promo_id = ctx.billing.engines.for_org(org).create_coupon(
        row["id"], name, coupon, promotion_code
    )
    coupons_repo.set_stripe_ids(conn, row["id"], coupon_id, promo_id)
    return _view(row)


def list_coupons(conn: Connection, caller: Principal) -> list[dict[str, Any]]:
    caller.require("publisher")
    return [_view(r) for r in coupons_repo.of_organization(conn, caller.organization_id)]


def redeem(
    ctx: AppContext, conn: Connection, caller: Principal, sub_id: str, *, promotion_code: str
) -> dict[str, Any]:
    """Redeem a promotion code on the caller's live subscription (an admin: anyone's):
    Stripe discounts its next invoices, and so does Tollway's estimate."""
    sub = billing_repo.load_own_sub(conn, sub_id, None if caller.is_admin else caller.user_id)
    row = billing_repo.billing_subscription(conn, subscription_id=sub.id)
    if row is None or not row.stripe_subscription_id:
        raise Conflict("this subscription is not billed through Stripe")
    coupon = coupons_repo.by_code(conn, sub.organization_id, promotion_code)
    coupons_repo.redeem(conn, sub.id, coupon["id"], ctx.clock.now())
    engine = ctx.billing.engines.for_org(sub.organization_id)
    engine.apply_coupon(row.stripe_subscription_id, str(coupon["stripe_coupon_id"]))
    return {"subscription_id": sub.id, "coupon": _view(coupon)}
