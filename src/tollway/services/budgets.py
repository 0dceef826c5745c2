"""Consumer budgets: a spend cap per subscription and billing period, in the plan's
currency, enforced by the gateway (402 past it).

A budget caps the **usage charges** of the period (the flat fee is known in advance and
not capped). The gateway turns the cap into a number of calls with the pricing core
(``pricing.affordable_units``), so it needs a plan whose usage is priced per call: one
usage price on the built-in ``requests`` meter or on a ``count`` meter. Every admitted
call counts toward the budget, including those the meter later does not bill (a 5xx, or
a call outside the meter's filter): the cap errs on the consumer's side.

The consumer who owns the subscription, the API's publisher and an admin may set it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.errors import Conflict, InvalidInput
from tollway.domain.money import minor_units
from tollway.domain.periods import period_containing
from tollway.domain.principal import Principal
from tollway.metering.meters import DEFAULT_METER, Aggregation, parse_meter
from tollway.pricing.spec import PricingSpec, parse_pricing
from tollway.pricing.spend import SpendRater, affordable_units, remaining
from tollway.store import budgets_repo, credits_repo, ledger, plans_repo, subscriptions_repo

MAX_BUDGET = Decimal("1000000000000")  # a trillion in the plan's currency


def budget_meter(conn: Connection, organization_id: str, spec: PricingSpec) -> str:
    """The meter a budget is counted on, or Conflict when the plan's usage is not priced
    per call."""
    prices = spec.usage_prices
    if not prices:
        raise Conflict("the plan has no usage price: there is no spend to cap")
    if len(prices) > 1:
        raise Conflict("budgets need a plan with one usage price (this plan has several)")
    meter = prices[0].meter
    if meter == DEFAULT_METER.key:
        return meter
    row = plans_repo.meter_row(conn, organization_id, meter)
    if row is None or parse_meter(row["definition"]).aggregation is not Aggregation.COUNT:
        raise Conflict(
            f"budgets need usage priced per call; the meter '{meter}' does not count calls"
        )
    return meter


def parse_amount(value: object, currency: str) -> Decimal:
    """A budget amount: a positive decimal string with at most the currency's minor
    digits; InvalidInput at ``amount`` otherwise."""
    if not isinstance(value, str):
        raise InvalidInput.at(("amount",), 'the amount is a decimal string, e.g. "25.00"')
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise InvalidInput.at(("amount",), f"'{value}' is not a decimal amount") from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidInput.at(("amount",), "the amount must be greater than zero")
    if amount > MAX_BUDGET:
        raise InvalidInput.at(("amount",), f"the amount must be at most {MAX_BUDGET}")
    places = minor_units(currency)
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise InvalidInput.at(
            ("amount",), f"{currency} amounts have at most {places} decimal places"
        )
    return amount.quantize(Decimal(1).scaleb(-places)) if places else amount.quantize(Decimal(1))


def _context(conn: Connection, caller: Principal, sub_id: str) -> tuple[dict[str, Any], ...]:
    sub = subscriptions_repo.get(conn, sub_id, caller)  # another owner's: 404
    plan = plans_repo.get_any(conn, str(sub["plan_id"]))
    return sub, plan


def _view(
    ctx: AppContext, conn: Connection, sub: dict[str, Any], plan: dict[str, Any]
) -> dict[str, Any]:
    row = budgets_repo.get(conn, str(sub["id"]))
    currency = str(plan["currency"])
    spec = parse_pricing(plan["pricing"], currency, several_meters=True)
    period = period_containing(
        sub["billing_anchor"], str(plan["billing_interval"]), ctx.clock.now()
    )
    calls = ledger.calls_between(conn, str(sub["id"]), period.start_ms, period.end_ms)
    rater = SpendRater(spec)
    meter = rater.only_meter
    spent = rater.usage_cost({meter: calls}) if meter is not None else None
    out: dict[str, Any] = {
        "subscription_id": sub["id"],
        "currency": currency,
        "period_start": period.start,
        "period_end": period.end,
        "calls": calls,
        "spent": None if spent is None else str(spent),
        "amount": None,
        "remaining": None,
        "calls_allowed": None,
        "set_by": None,
        "updated_at": None,
    }
    if row is not None:
        amount = Decimal(row["amount"])
        allowed = affordable_units(rater, meter, amount) if meter is not None else 0
        out |= {
            "amount": row["amount"],
            "remaining": str(remaining(amount, spent or Decimal(0))),
            "calls_allowed": allowed,
            "set_by": row["set_by"],
            "updated_at": row["updated_at"],
        }
    return out


def get_budget(ctx: AppContext, conn: Connection, caller: Principal, sub_id: str) -> dict[str, Any]:
    """The subscription's budget (``amount`` None when none is set) and its spend so far."""
    sub, plan = _context(conn, caller, sub_id)
    return _view(ctx, conn, sub, plan)


def set_budget(
    ctx: AppContext, conn: Connection, caller: Principal, sub_id: str, *, amount: object
) -> dict[str, Any]:
    """Set or change the cap; the gateway enforces it from the next call on."""
    sub, plan = _context(conn, caller, sub_id)
    if credits_repo.account(conn, str(sub["id"])) is not None:
        raise Conflict("the subscription is prepaid: its credit balance is its cap")
    spec = parse_pricing(plan["pricing"], str(plan["currency"]), several_meters=True)
    currency = spec.currency
    value = parse_amount(amount, currency)
    budget_meter(conn, str(plan["organization_id"]), spec)
    budgets_repo.put(
        conn,
        str(sub["id"]),
        amount=str(value),
        currency=currency,
        actor=caller.user_id,
        now=ctx.clock.now(),
    )
    return _view(ctx, conn, sub, plan)


def remove_budget(
    ctx: AppContext, conn: Connection, caller: Principal, sub_id: str
) -> dict[str, Any]:
    sub, plan = _context(conn, caller, sub_id)
    budgets_repo.remove(conn, str(sub["id"]))
    return _view(ctx, conn, sub, plan)
