"""Prepaid credits: a publisher sells a plan as prepaid (credit packs), a consumer on it
buys packs through Stripe Checkout, calls burn the balance at the plan's prices, the
gateway refuses at zero (402 with a top-up link), and an automatic top-up can charge the
saved card when the balance falls below a threshold. Every movement is an entry in the
append-only credit ledger (``GET …/credits`` lists them).

A prepaid plan has one usage price counted per call (as budgets need) and neither a
flat fee nor a hard quota; its usage is priced cumulatively over the subscription's
life (tiers, if any, apply to lifetime usage), never per billing period.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from tollway.billing import credits as billing_credits
from tollway.context import AppContext
from tollway.domain.errors import Conflict, InvalidInput
from tollway.domain.money import minor_unit
from tollway.domain.principal import Principal
from tollway.pricing.spec import parse_pricing
from tollway.pricing.spend import SpendRater
from tollway.services import billing
from tollway.services.budgets import budget_meter, parse_amount
from tollway.store import credits_repo, ledger, plans_repo, subscriptions_repo


def set_prepaid(
    ctx: AppContext, conn: Connection, caller: Principal, plan_id: str, *, packs: list[str]
) -> dict[str, Any]:
    """Sell the plan as prepaid credit in these packs (amounts in the plan's currency)."""
    plan = plans_repo.get(conn, plan_id, caller)
    spec = parse_pricing(plan["pricing"], str(plan["currency"]), several_meters=True)
    budget_meter(conn, str(plan["organization_id"]), spec)  # one per-call usage price
    if spec.flat_fee:
        raise Conflict("a prepaid plan has no flat fee: consumers pay for calls up front")
    if plan["quota_limit"] is not None and plan["quota_mode"] == "hard":
        raise Conflict("a prepaid plan has no hard quota: the balance limits the calls")
    if not packs or len(packs) > 6:
        raise InvalidInput.at(("packs",), 'offer 1 to 6 credit packs, e.g. ["10.00", "50.00"]')
    amounts = []
    for i, raw in enumerate(packs):
        try:
            amounts.append(str(parse_amount(raw, spec.currency)))
        except InvalidInput as exc:
            raise InvalidInput.at(("packs", i), exc.errors[0].message) from None
    offered = sorted(set(amounts), key=Decimal)
    credits_repo.set_plan_packs(conn, str(plan["id"]), offered, ctx.clock.now())
    return {"plan_id": plan["id"], "currency": spec.currency, "packs": offered}


def open_account_if_prepaid(
    ctx: AppContext, conn: Connection, subscription_id: str, plan: dict[str, Any]
) -> bool:
    """Open the credit account of a new subscription on a prepaid plan; True if it is."""
    if credits_repo.plan_packs(conn, str(plan["id"])) is None:
        return False
    currency = parse_pricing(plan["pricing"], str(plan["currency"]), several_meters=True).currency
    credits_repo.open_account(conn, subscription_id, currency, ctx.clock.now())
    return True


def is_prepaid(conn: Connection, subscription_id: str) -> bool:
    """Whether the subscription pays from a credit balance."""
    return credits_repo.account(conn, subscription_id) is not None


def _prepaid(conn: Connection, caller: Principal, sub_id: str) -> tuple[dict[str, Any], ...]:
    sub = subscriptions_repo.get(conn, sub_id, caller)  # another owner's: 404
    account = credits_repo.account(conn, str(sub["id"]))
    if account is None:
        raise Conflict("the subscription is not on a prepaid plan")
    plan = plans_repo.get_any(conn, str(sub["plan_id"]))
    return sub, account, plan


def account_view(
    conn: Connection, sub: dict[str, Any], account: dict[str, Any], plan: dict[str, Any]
) -> dict[str, Any]:
    spec = parse_pricing(plan["pricing"], str(plan["currency"]), several_meters=True)
    calls = ledger.calls_since(conn, str(sub["id"]), sub["billing_anchor"])
    rater = SpendRater(spec)
    used = rater.usage_cost({rater.only_meter or "": calls})
    credited = credits_repo.credited(conn, str(sub["id"])).quantize(minor_unit(spec.currency))
    return {
        "subscription_id": sub["id"],
        "currency": spec.currency,
        "credited": str(credited),
        "used": str(used),
        "balance": str(credited - used),
        "calls": calls,
        "packs": credits_repo.plan_packs(conn, str(plan["id"])) or [],
        "auto_top_up": None
        if account["auto_topup_below"] is None
        else {"below": account["auto_topup_below"], "amount": account["auto_topup_amount"]},
        "card_saved": bool(account["customer_id"]),
        "last_error": account["last_error"],
        "entries": credits_repo.entries(conn, str(sub["id"])),
        "open_purchases": [
            {
                "session_id": p["session_id"],
                "amount": p["amount"],
                "checkout_url": p["checkout_url"],
            }
            for p in credits_repo.open_purchases(conn, str(sub["id"]))
        ],
    }


def get_credits(ctx: AppContext, caller: Principal, sub_id: str) -> dict[str, Any]:
    """The balance and the credit ledger; open purchases are settled with Stripe first
    (so the return from Checkout shows the credit even before the webhook)."""
    with ctx.tx(read_only=True) as conn:
        _prepaid(conn, caller, sub_id)  # another's: 404; not prepaid: 409
        pending = [p["session_id"] for p in credits_repo.open_purchases(conn, sub_id)]
    for session_id in pending:
        billing_credits.settle_purchase(
            ctx.engine, ctx.billing.engines, session_id, ctx.clock.now()
        )
    with ctx.tx(read_only=True) as conn:
        return account_view(conn, *_prepaid(conn, caller, sub_id))


def buy(ctx: AppContext, caller: Principal, sub_id: str, *, amount: object) -> dict[str, Any]:
    """A Checkout URL for one of the plan's credit packs."""
    with ctx.tx(read_only=True) as conn:
        _, account, plan = _prepaid(conn, caller, sub_id)
        packs = credits_repo.plan_packs(conn, str(plan["id"])) or []
    value = parse_amount(amount, str(account["currency"]))
    if str(value) not in packs:
        raise InvalidInput.at(("amount",), f"choose one of the packs: {', '.join(packs)}")
    if not billing.is_configured(ctx):
        raise Conflict("the publisher has not connected Stripe yet: credit cannot be bought")
    url = billing_credits.start_purchase(
        ctx.billing.service, sub_id, value, str(account["currency"])
    )
    return {"checkout_url": url, "amount": str(value), "currency": account["currency"]}


def set_auto_top_up(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    sub_id: str,
    *,
    below: object | None,
    amount: object | None,
) -> dict[str, Any]:
    """Turn automatic top-up on (charge ``amount`` when the balance is under ``below``)
    or off (both None). It needs a card saved by an earlier purchase."""
    sub, account, plan = _prepaid(conn, caller, sub_id)
    if below is None and amount is None:
        values: dict[str, Any] = {"auto_topup_below": None, "auto_topup_amount": None}
    else:
        currency = str(account["currency"])
        packs = credits_repo.plan_packs(conn, str(plan["id"])) or []
        top = parse_amount(amount, currency)
        if str(top) not in packs:
            raise InvalidInput.at(("amount",), f"choose one of the packs: {', '.join(packs)}")
        try:
            threshold = parse_amount(below, currency)
        except InvalidInput as exc:
            raise InvalidInput.at(("below",), exc.errors[0].message) from None
        if not account["customer_id"]:
            raise Conflict("buy a credit pack first: automatic top-up charges the card it saves")
        values = {
            "auto_topup_below": str(threshold),
            "auto_topup_amount": str(top),
            "last_error": None,
        }
    credits_repo.update_account(conn, str(sub["id"]), {**values, "updated_at": ctx.clock.now()})
    return account_view(conn, sub, credits_repo.account(conn, str(sub["id"])) or account, plan)


def settle_return(ctx: AppContext, session_id: str) -> str:
    """Checkout's return for a credit purchase: settle it now (exactly once)."""
    return billing_credits.settle_purchase(
        ctx.engine, ctx.billing.engines, session_id, ctx.clock.now()
    )
