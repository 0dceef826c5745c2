"""Subscriptions: subscribe, list, cancel, block/unblock, audit log."""

from __future__ import annotations

from fastapi import APIRouter, status

from tollway.api.deps import After, Caller, CallerOutsideTx, Conn, Ctx, Limit, Publisher
from tollway.api.schemas import (
    PageOut,
    ReasonIn,
    SubscriptionEventOut,
    SubscriptionIn,
    SubscriptionOut,
)
from tollway.services import subscriptions

router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"])


@router.post("", response_model=SubscriptionOut, status_code=status.HTTP_201_CREATED)
def subscribe(body: SubscriptionIn, ctx: Ctx, conn: Conn, caller: Caller) -> SubscriptionOut:
    """Subscribe an application to an API on a plan. Free plans are active at once; paid plans
    wait ``on_hold`` for payment and the response carries the Checkout URL. A paid plan
    whose publisher has not connected Stripe yet is refused (409)."""
    row = subscriptions.subscribe(
        ctx,
        conn,
        caller,
        application_id=body.application_id,
        api_id=body.api_id,
        plan_id=body.plan_id,
    )
    return SubscriptionOut.model_validate(row)


@router.get("", response_model=PageOut[SubscriptionOut])
def list_subscriptions(
    conn: Conn, caller: Caller, limit: Limit = 50, after: After = None
) -> PageOut[SubscriptionOut]:
    page = subscriptions.list_subscriptions(conn, caller, limit=limit, after=after)
    return PageOut[SubscriptionOut].of(
        page, [SubscriptionOut.model_validate(r) for r in page.items]
    )


@router.get("/{sub_id}", response_model=SubscriptionOut)
def get_subscription(sub_id: str, conn: Conn, caller: Caller) -> SubscriptionOut:
    return SubscriptionOut.model_validate(subscriptions.get_subscription(conn, caller, sub_id))


@router.post(
    "/{sub_id}/checkout",
    response_model=SubscriptionOut,
    responses={409: {"description": "Nothing to pay, or no payment provider connected"}},
)
def checkout(sub_id: str, ctx: Ctx, conn: Conn, caller: Caller) -> SubscriptionOut:
    """A Checkout URL to pay your subscription that waits for payment (``on_hold``): the
    open session's, or a fresh one when the last expired or was abandoned."""
    return SubscriptionOut.model_validate(subscriptions.renew_checkout(ctx, conn, caller, sub_id))


@router.post("/{sub_id}/cancel", response_model=SubscriptionOut)
def cancel(sub_id: str, body: ReasonIn, ctx: Ctx, caller: CallerOutsideTx) -> SubscriptionOut:
    """Cancel now, here and at the billing provider (usage so far is pushed first)."""
    return SubscriptionOut.model_validate(
        subscriptions.cancel(ctx, caller, sub_id, reason=body.reason)
    )


@router.post("/{sub_id}/block", response_model=SubscriptionOut)
def block(sub_id: str, body: ReasonIn, ctx: Ctx, conn: Conn, caller: Publisher) -> SubscriptionOut:
    row = subscriptions.block(ctx, conn, caller, sub_id, reason=body.reason)
    return SubscriptionOut.model_validate(row)


@router.post("/{sub_id}/unblock", response_model=SubscriptionOut)
def unblock(
    sub_id: str, body: ReasonIn, ctx: Ctx, conn: Conn, caller: Publisher
) -> SubscriptionOut:
    row = subscriptions.unblock(ctx, conn, caller, sub_id, reason=body.reason)
    return SubscriptionOut.model_validate(row)


@router.get("/{sub_id}/events", response_model=list[SubscriptionEventOut])
def audit_log(sub_id: str, conn: Conn, caller: Caller) -> list[SubscriptionEventOut]:
    """Every state change with its cause (user, webhook, admin, system)."""
    return [
        SubscriptionEventOut.model_validate(e) for e in subscriptions.events(conn, caller, sub_id)
    ]
