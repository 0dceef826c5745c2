"""Prepaid credits: prepaid plans, a subscription's balance and credit ledger, buying a
credit pack through Stripe Checkout, automatic top-up."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import Field

from tollway.api.deps import Caller, CallerOutsideTx, Conn, Ctx, Publisher
from tollway.api.schemas import In, Out
from tollway.services import credits

router = APIRouter(tags=["spend controls"])


class PrepaidIn(In):
    packs: list[str] = Field(..., description='Credit pack amounts, e.g. ["10.00", "50.00"]')


class PrepaidOut(Out):
    plan_id: str
    currency: str
    packs: list[str]


class CreditEntryOut(Out):
    id: str
    kind: str = Field(description="purchase | auto_topup | usage | adjustment")
    amount: str = Field(description="Signed: + credit, - usage")
    calls_to: int | None = Field(description="usage: lifetime calls priced up to this entry")
    reference: str
    created_at: datetime


class AutoTopUpOut(Out):
    below: str
    amount: str


class OpenPurchaseOut(Out):
    session_id: str
    amount: str
    checkout_url: str


class CreditsOut(Out):
    subscription_id: str
    currency: str
    credited: str
    used: str = Field(description="Charges of every call admitted so far")
    balance: str
    calls: int
    packs: list[str]
    auto_top_up: AutoTopUpOut | None
    card_saved: bool
    last_error: str | None
    entries: list[CreditEntryOut]
    open_purchases: list[OpenPurchaseOut]


class BuyIn(In):
    amount: str = Field(..., max_length=32, description="One of the plan's packs")


class BuyOut(Out):
    checkout_url: str
    amount: str
    currency: str


class AutoTopUpIn(In):
    below: str | None = Field(
        None, max_length=32, description="Top up when the balance is under this"
    )
    amount: str | None = Field(None, max_length=32, description="One of the plan's packs")


@router.put("/api/v1/plans/{plan_id}/prepaid", response_model=PrepaidOut)
def set_prepaid(
    plan_id: str, body: PrepaidIn, ctx: Ctx, conn: Conn, caller: Publisher
) -> PrepaidOut:
    """Sell the plan as prepaid credit: consumers buy these packs; calls burn them."""
    return PrepaidOut.model_validate(
        credits.set_prepaid(ctx, conn, caller, plan_id, packs=body.packs)
    )


@router.get("/api/v1/subscriptions/{sub_id}/credits", response_model=CreditsOut)
def get_credits(sub_id: str, ctx: Ctx, caller: CallerOutsideTx) -> CreditsOut:
    """The balance and every entry of the credit ledger."""
    return CreditsOut.model_validate(credits.get_credits(ctx, caller, sub_id))


@router.post(
    "/api/v1/subscriptions/{sub_id}/credits/checkout",
    response_model=BuyOut,
    status_code=status.HTTP_201_CREATED,
)
def buy_credits(sub_id: str, body: BuyIn, ctx: Ctx, caller: CallerOutsideTx) -> BuyOut:
    """A Stripe Checkout page that buys a credit pack (and saves the card for top-ups)."""
    return BuyOut.model_validate(credits.buy(ctx, caller, sub_id, amount=body.amount))


@router.put("/api/v1/subscriptions/{sub_id}/credits/auto-top-up", response_model=CreditsOut)
def set_auto_top_up(
    sub_id: str, body: AutoTopUpIn, ctx: Ctx, conn: Conn, caller: Caller
) -> CreditsOut:
    """Charge the saved card ``amount`` whenever the balance is under ``below``; both
    null turns it off."""
    row = credits.set_auto_top_up(ctx, conn, caller, sub_id, below=body.below, amount=body.amount)
    return CreditsOut.model_validate(row)
