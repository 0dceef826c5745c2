"""Plan changes of live subscriptions: upgrade, downgrade or switch to another plan of
the same API, now, with proration as Stripe computes it, and a preview of the change
(Tollway's computation next to Stripe's ``create_preview``).

A change takes effect at one moment ``at`` (whole seconds): the usage so far is pushed
to the old plan's meter first; then, in one transaction, the change is recorded, the
subscription moves to the new plan (the gateway's quotas and rate limits follow from
the config version bumped with it) and Stripe swaps the prices with
``proration_date=at``. Usage windows are cut at ``at``: usage before it goes to the old
plan's meter, usage after it to the new one's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from tollway.billing import change_estimate
from tollway.billing.engine import BillingEngine, PriceChange
from tollway.billing.invoices import before_tax, invoice_dict
from tollway.context import AppContext
from tollway.domain.errors import Conflict, NotFound
from tollway.domain.principal import Principal
from tollway.domain.subscriptions import SubState
from tollway.pricing.changes import ProrationBehavior
from tollway.services import billing, plans
from tollway.store import apis_repo, billing_repo, plan_changes_repo, plans_repo, tax_repo
from tollway.store.billing_repo import SubRow


@dataclass(frozen=True, slots=True)
class _Change:
    sub: SubRow
    to_plan_id: str
    customer_id: str
    stripe_subscription_id: str
    period: tuple[int, int]
    prices: PriceChange
    engine: BillingEngine


def _check(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    sub_id: str,
    plan_id: str,
    behavior: ProrationBehavior,
    at: int,
) -> _Change:
    """Everything a change needs, or the reason it cannot happen (404 for a
    subscription that is not the caller's, 409 for a change that is not possible)."""
    sub = billing_repo.load_own_sub(conn, sub_id, None if caller.is_admin else caller.user_id)
    if sub.state is not SubState.ACTIVE:
        raise Conflict(f"the subscription is {sub.state.value}; only active ones change plans")
    if plan_id == sub.plan_id:
        raise Conflict("the subscription is already on this plan")
    if not apis_repo.plan_enabled(conn, sub.api_id, plan_id):
        raise NotFound(f"plan '{plan_id}' is not offered on this API")
    old, new = plans_repo.get_any(conn, sub.plan_id), plans_repo.get_any(conn, plan_id)
    if new["status"] != "active":
        raise Conflict("the plan is retired")
    if plans.is_free(old) or plans.is_free(new):
        raise Conflict(
            "changing between a free and a paid plan goes through Checkout: "
            "cancel and subscribe to the new plan"
        )
    if new["currency"] != old["currency"]:
        raise Conflict(
            f"the plan bills in {new['currency']}, the subscription in {old['currency']}"
        )
    if len(plans.spec_of(old).meters) > 1 or len(plans.spec_of(new).meters) > 1:
        raise Conflict(
            "changing to or from a plan that bills several meters is not supported: "
            "cancel and subscribe to the new plan"
        )
    every = ("billing_interval", "billing_interval_count")
    if any(new[k] != old[k] for k in every):
        raise Conflict("a change of billing interval is not supported mid-period")
    row = billing_repo.billing_subscription(conn, subscription_id=sub.id)
    if row is None or not row.stripe_subscription_id:
        raise Conflict("this subscription is not billed through Stripe yet")
    engine = ctx.billing.engines.for_org(sub.organization_id)
    start, end = row.current_period_start, row.current_period_end
    if not (start and end):
        info = engine.get_subscription(row.stripe_subscription_id)
        start, end = info.current_period_start, info.current_period_end
    if not start <= at < end:
        raise Conflict("the billing period is ending; change the plan once it has renewed")
    target = ctx.billing.service.provisioned(sub.api_id, plan_id, conn)
    if target is None:
        target = ctx.billing.service.provision_plan(sub.api_id, plan_id, conn)
    if target is None:  # pragma: no cover - a paid plan always provisions
        raise Conflict("the plan has no price at Stripe")
    taxed = tax_repo.get(conn, sub.organization_id).automatic_tax
    prices = PriceChange(target.flat_price_id, target.usage_price_id, behavior.value, at, taxed)
    return _Change(sub, plan_id, row.customer_id, row.stripe_subscription_id, (start, end),
                   prices, engine)  # fmt: skip


def _now(ctx: AppContext) -> int:
    return int(ctx.clock.now().timestamp())


def preview(
    ctx: AppContext, caller: Principal, sub_id: str, *, plan_id: str, behavior: ProrationBehavior
) -> dict[str, Any]:
    """What changing to ``plan_id`` now would bill, computed by Tollway and by Stripe.
    The usage so far is pushed first, so that both count the same usage."""
    with ctx.tx(read_only=True) as conn:
        _check(ctx, conn, caller, sub_id, plan_id, behavior, _now(ctx))
    billing.flush_usage(ctx, sub_id)
    at = _now(ctx)
    with ctx.tx(read_only=True) as conn:
        c = _check(ctx, conn, caller, sub_id, plan_id, behavior, at)
        ours = change_estimate.preview(conn, c.sub, plan_id, c.period, at, behavior)
    theirs = c.engine.preview_change(c.customer_id, c.stripe_subscription_id, c.prices)
    return {
        "subscription_id": sub_id,
        "from_plan_id": c.sub.plan_id,
        "to_plan_id": plan_id,
        "effective_at": at,
        "proration_behavior": behavior.value,
        "tollway": ours,
        "stripe": invoice_dict(theirs) if theirs is not None else None,
        "agrees": None if theirs is None else before_tax(theirs) == ours["total_minor"],
    }


def change(
    ctx: AppContext, caller: Principal, sub_id: str, *, plan_id: str, behavior: ProrationBehavior
) -> dict[str, Any]:
    """Change the subscription to ``plan_id`` now. Runs its own transactions: the usage
    so far is pushed first (to the old plan's meter); the change itself is one
    transaction that also calls Stripe, so a refusal there changes nothing here."""
    with ctx.tx(read_only=True) as conn:
        _check(ctx, conn, caller, sub_id, plan_id, behavior, _now(ctx))
    billing.flush_usage(ctx, sub_id)
    with ctx.tx() as conn:
        at = _now(ctx)
        c = _check(ctx, conn, caller, sub_id, plan_id, behavior, at)
        if plan_changes_repo.scheduled(conn, sub_id) is not None:
            raise Conflict("a plan change is scheduled for the period end")
        recorded = plan_changes_repo.record(
            conn,
            subscription_id=sub_id,
            from_plan_id=c.sub.plan_id,
            to_plan_id=plan_id,
            timing="now",
            proration_behavior=behavior.value,
            effective_at=at,
            period=c.period,
            state=plan_changes_repo.APPLIED,
            actor=caller.user_id,
            now=ctx.clock.now(),
        )
        plan_changes_repo.move_subscription(conn, sub_id, plan_id, ctx.clock.now())
        c.engine.change_prices(c.stripe_subscription_id, c.prices)
    return _view(recorded)


def schedule(ctx: AppContext, caller: Principal, sub_id: str, *, plan_id: str) -> dict[str, Any]:
    """Change the subscription to ``plan_id`` at the end of its billing period (a Stripe
    subscription schedule; no proration). The period is billed on the current plan and
    the next one on the new plan, which the subscription (and the gateway) moves to when
    Stripe reports the renewal."""
    with ctx.tx() as conn:
        c = _check(ctx, conn, caller, sub_id, plan_id, ProrationBehavior.NONE, _now(ctx))
        if plan_changes_repo.scheduled(conn, sub_id) is not None:
            raise Conflict("a plan change is already scheduled for the period end")
        recorded = plan_changes_repo.record(
            conn,
            subscription_id=sub_id,
            from_plan_id=c.sub.plan_id,
            to_plan_id=plan_id,
            timing="period_end",
            proration_behavior=ProrationBehavior.NONE.value,
            effective_at=c.period[1],
            period=c.period,
            state=plan_changes_repo.SCHEDULED,
            actor=caller.user_id,
            now=ctx.clock.now(),
        )
        c.engine.schedule_change(c.stripe_subscription_id, replace(c.prices, at=c.period[1]))
    return _view(recorded)


def _view(row: plan_changes_repo.PlanChangeRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "subscription_id": row.subscription_id,
        "from_plan_id": row.from_plan_id,
        "to_plan_id": row.to_plan_id,
        "timing": row.timing,
        "proration_behavior": row.proration_behavior,
        "effective_at": row.effective_at,
        "state": row.state,
        "created_at": row.created_at,
    }


def history(conn: Connection, caller: Principal, sub_id: str) -> list[dict[str, Any]]:
    """The subscription's plan changes, oldest first (its owner, or an admin)."""
    billing_repo.load_own_sub(conn, sub_id, None if caller.is_admin else caller.user_id)
    return [_view(r) for r in plan_changes_repo.of_subscription(conn, sub_id)]
