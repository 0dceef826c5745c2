"""Subscriptions: subscribe, list, cancel, block/unblock, audit log."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select

from tollway.api.deps import After, Caller, CallerOutsideTx, Conn, Ctx, Limit, Publisher
from tollway.api.schemas import (
    PageOut,
    ReasonIn,
    SubscriptionEventOut,
    SubscriptionIn,
    SubscriptionOut,
)
from tollway.domain.errors import Conflict, IllegalTransition, NotFound
from tollway.domain.lifecycle import SUBSCRIBABLE, Lifecycle
from tollway.domain.principal import Principal
from tollway.domain.subscriptions import Cause, SubState
from tollway.services import billing
from tollway.store import apis_repo, apps_repo, plans_repo, subscriptions_repo
from tollway.store.rows import paginate
from tollway.store.tables import subscriptions

router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"])


@router.post("", response_model=SubscriptionOut, status_code=status.HTTP_201_CREATED)
def subscribe(body: SubscriptionIn, ctx: Ctx, conn: Conn, caller: Caller) -> SubscriptionOut:
    """Subscribe an application to an API on a plan. Free plans are active at once; paid plans
    wait ``on_hold`` for payment and the response carries the Checkout URL."""
    app = apps_repo.get(conn, body.application_id, caller)
    api = apis_repo.get(conn, body.api_id, caller)
    if Lifecycle(api["lifecycle"]) not in SUBSCRIBABLE:
        raise Conflict(f"the API is {api['lifecycle']}; only published APIs take subscriptions")
    if not apis_repo.plan_enabled(conn, body.api_id, body.plan_id):
        raise NotFound(f"plan '{body.plan_id}' is not offered on this API")
    plan = plans_repo.get_any(conn, body.plan_id)
    if plan["status"] != "active":
        raise Conflict("the plan is retired")
    free = plans_repo.is_free(plan)
    row = subscriptions_repo.create(
        conn,
        application_id=app["id"],
        api_id=api["id"],
        plan_id=plan["id"],
        consumer_id=app["owner_id"],
        state=SubState.ACTIVE if free else SubState.ON_HOLD,
        cause=Cause.USER,
        actor=caller.user_id,
        now=ctx.clock.now(),
    )
    checkout_url = None
    if not free and billing.is_configured(ctx):
        checkout_url = billing.start_checkout(ctx, conn, str(row["id"]))
    return SubscriptionOut.model_validate({**row, "checkout_url": checkout_url})


@router.get("", response_model=PageOut[SubscriptionOut])
def list_subscriptions(
    conn: Conn, caller: Caller, limit: Limit = 50, after: After = None
) -> PageOut[SubscriptionOut]:
    page = paginate(
        conn,
        select(subscriptions).where(subscriptions_repo.visible(caller)),
        subscriptions.c.id,
        limit=limit,
        after=after,
    )
    return PageOut[SubscriptionOut].of(
        page, [SubscriptionOut.model_validate(r) for r in page.items]
    )


@router.get("/{sub_id}", response_model=SubscriptionOut)
def get_subscription(sub_id: str, conn: Conn, caller: Caller) -> SubscriptionOut:
    return SubscriptionOut.model_validate(subscriptions_repo.get(conn, sub_id, caller))


def _cause(caller: Principal) -> Cause:
    return Cause.ADMIN if caller.role in ("admin", "publisher") else Cause.USER


@router.post("/{sub_id}/cancel", response_model=SubscriptionOut)
def cancel(sub_id: str, body: ReasonIn, ctx: Ctx, caller: CallerOutsideTx) -> SubscriptionOut:
    """Cancel now, here and at the billing provider (usage so far is pushed first)."""
    with ctx.tx(read_only=True) as conn:
        subscriptions_repo.get(conn, sub_id, caller)  # 404 for anyone else's
    billed = billing.is_configured(ctx)
    if billed:
        # Outside the cancel's transaction: if the cancel below fails and rolls back, the
        # usage pushed here stays recorded as sent (nothing can be pushed twice or lost).
        billing.flush_usage(ctx, sub_id)
    with ctx.tx() as conn:
        subscriptions_repo.transition(
            conn,
            sub_id,
            SubState.CANCELLED,
            cause=_cause(caller),
            actor=caller.user_id,
            reason=body.reason,
            now=ctx.clock.now(),
        )
        if billed:
            billing.cancel_at_provider(ctx, conn, sub_id)
        return SubscriptionOut.model_validate(subscriptions_repo.get(conn, sub_id, caller))


def _manage(
    conn: Conn, sub_id: str, caller: Principal, target: SubState, ctx: Ctx, reason: str | None
) -> SubscriptionOut:
    sub = subscriptions_repo.get(conn, sub_id, caller)  # publisher: only their APIs'
    if target is SubState.ACTIVE and sub["state"] != SubState.BLOCKED.value:
        # Unblocking is not a way around payment: an on-hold subscription waits for Checkout.
        raise IllegalTransition("unblock", sub["state"], target.value, [])
    subscriptions_repo.transition(
        conn,
        sub_id,
        target,
        cause=Cause.ADMIN,
        actor=caller.user_id,
        reason=reason,
        now=ctx.clock.now(),
    )
    return SubscriptionOut.model_validate(subscriptions_repo.get(conn, sub_id, caller))


@router.post("/{sub_id}/block", response_model=SubscriptionOut)
def block(sub_id: str, body: ReasonIn, ctx: Ctx, conn: Conn, caller: Publisher) -> SubscriptionOut:
    return _manage(conn, sub_id, caller, SubState.BLOCKED, ctx, body.reason)


@router.post("/{sub_id}/unblock", response_model=SubscriptionOut)
def unblock(
    sub_id: str, body: ReasonIn, ctx: Ctx, conn: Conn, caller: Publisher
) -> SubscriptionOut:
    return _manage(conn, sub_id, caller, SubState.ACTIVE, ctx, body.reason)


@router.get("/{sub_id}/events", response_model=list[SubscriptionEventOut])
def audit_log(sub_id: str, conn: Conn, caller: Caller) -> list[SubscriptionEventOut]:
    """Every state change with its cause (user, webhook, admin, system)."""
    subscriptions_repo.get(conn, sub_id, caller)
    return [SubscriptionEventOut.model_validate(e) for e in subscriptions_repo.events(conn, sub_id)]
