"""Consumer budgets: a spend cap per subscription and billing period (402 past it)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import Field

from tollway.api.deps import Caller, Conn, Ctx
from tollway.api.schemas import In, Out
from tollway.services import budgets

router = APIRouter(prefix="/api/v1/subscriptions", tags=["spend controls"])


class BudgetIn(In):
    amount: str = Field(
        ...,
        max_length=32,
        description="Cap on the period's usage charges, in the plan's currency (e.g. \"25.00\")",
        examples=["25.00"],
    )


class BudgetOut(Out):
    subscription_id: str
    currency: str
    period_start: datetime
    period_end: datetime
    calls: int = Field(description="Admitted calls this billing period")
    spent: str | None = Field(description="Usage charges of those calls (before tax)")
    amount: str | None = Field(description="The cap; null when no budget is set")
    remaining: str | None
    calls_allowed: int | None = Field(description="Calls per period the cap allows")
    set_by: str | None
    updated_at: datetime | None


@router.get("/{sub_id}/budget", response_model=BudgetOut)
def get_budget(sub_id: str, ctx: Ctx, conn: Conn, caller: Caller) -> BudgetOut:
    """The subscription's budget and its spend so far this billing period."""
    return BudgetOut.model_validate(budgets.get_budget(ctx, conn, caller, sub_id))


@router.put("/{sub_id}/budget", response_model=BudgetOut)
def set_budget(sub_id: str, body: BudgetIn, ctx: Ctx, conn: Conn, caller: Caller) -> BudgetOut:
    """Set or change the cap. The gateway refuses the call that would take the period's
    usage charges over it with 402, from the next call on."""
    return BudgetOut.model_validate(
        budgets.set_budget(ctx, conn, caller, sub_id, amount=body.amount)
    )


@router.delete("/{sub_id}/budget", response_model=BudgetOut)
def remove_budget(sub_id: str, ctx: Ctx, conn: Conn, caller: Caller) -> BudgetOut:
    return BudgetOut.model_validate(budgets.remove_budget(ctx, conn, caller, sub_id))
