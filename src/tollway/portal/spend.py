"""Spend controls of one subscription in the portal: the budget (a cap on the period's
usage charges, enforced by the gateway), alerts at percentages of the quota or budget,
and — on a prepaid plan — the credit balance, its ledger, buying a pack and automatic
top-up. Everything goes through the same services as the REST API; another consumer's
subscription is a 404 page."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from tollway.context import AppContext
from tollway.domain.errors import Conflict, InvalidInput
from tollway.domain.principal import Principal
from tollway.http.deps import Ctx
from tollway.services import budgets, credits, notifications, subscriptions
from tollway.web import FormState, page_router, pages_of, read_form, redirect, require_user

router = page_router("/portal/subscriptions")

METRICS = [("budget", "Budget (spend)"), ("quota", "Quota (calls)")]


class BudgetForm(BaseModel):
    amount: str = Field(min_length=1, max_length=32, title="Budget per billing period")


class AlertForm(BaseModel):
    metric: Literal["budget", "quota"] = Field(title="Alert on")
    thresholds: str = Field(min_length=1, max_length=100, title="Thresholds (%)")


class BuyForm(BaseModel):
    pack: str = Field(min_length=1, max_length=32, title="Credit pack")


class TopUpForm(BaseModel):
    below: str = Field(min_length=1, max_length=32, title="When the balance is under")
    top_up_amount: str = Field(min_length=1, max_length=32, title="Top up with")


def _page(
    request: Request,
    ctx: AppContext,
    user: Principal,
    sub_id: str,
    *,
    status: int = 200,
    **forms: Any,
) -> Response:
    with ctx.tx(read_only=True) as conn:
        sub = subscriptions.get_subscription(conn, user, sub_id)  # another's: 404
        prepaid = credits.is_prepaid(conn, sub_id)
        budget = None if prepaid else budgets.get_budget(ctx, conn, user, sub_id)
        alerts = notifications.alerts(conn, user, sub_id)
        names = {s["id"]: s for s in subscriptions.of_consumer(conn, user)}
    credit = credits.get_credits(ctx, user, sub_id) if prepaid else None
    context: dict[str, Any] = {
        "sub": sub,
        "names": names.get(sub_id, {}),
        "budget": budget,
        "alerts": alerts,
        "credit": credit,
        "metrics": METRICS,
        "budget_form": FormState(values={"amount": (budget or {}).get("amount") or ""}),
        "alert_form": FormState(values={"metric": "budget", "thresholds": "50, 80, 100"}),
        "buy_form": FormState(),
        "topup_form": FormState(),
        **forms,
    }
    return pages_of(request).render(request, "portal/spend.html", context, status=status)


@router.get("/{sub_id}/spend")
def spend_page(request: Request, ctx: Ctx, sub_id: str) -> Response:
    return _page(request, ctx, require_user(request), sub_id)


def _done(request: Request, sub_id: str, message: str) -> Response:
    response = redirect(request, f"/portal/subscriptions/{sub_id}/spend")
    pages_of(request).add_flash(request, response, "success", message)
    return response


@router.post("/{sub_id}/budget")
def set_budget(request: Request, ctx: Ctx, sub_id: str) -> Response:
    user = require_user(request)
    model, form = read_form(request, BudgetForm)
    if model is not None:
        try:
            with ctx.tx() as conn:
                row = budgets.set_budget(ctx, conn, user, sub_id, amount=model.amount)
        except InvalidInput as exc:
            form.add_invalid_input(exc)
        except Conflict as exc:
            form.add("amount", _sentence(exc.detail))
        else:
            cur = row["currency"]
            return _done(request, sub_id, f"Budget set: {row['amount']} {cur} per period.")
    return _page(request, ctx, user, sub_id, status=422, budget_form=form)


@router.post("/{sub_id}/budget/remove")
def remove_budget(request: Request, ctx: Ctx, sub_id: str) -> Response:
    user = require_user(request)
    with ctx.tx() as conn:
        budgets.remove_budget(ctx, conn, user, sub_id)
    return _done(request, sub_id, "Budget removed: calls are no longer capped by spend.")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _thresholds(text: str) -> list[int]:
    parts = [p.strip().rstrip("%") for p in text.replace(";", ",").split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise InvalidInput.at(("thresholds",), "write whole percents separated by commas")
    return [int(p) for p in parts]


@router.post("/{sub_id}/alerts")
def add_alert(request: Request, ctx: Ctx, sub_id: str) -> Response:
    user = require_user(request)
    model, form = read_form(request, AlertForm)
    if model is not None:
        try:
            with ctx.tx() as conn:
                notifications.create_alert(
                    ctx,
                    conn,
                    user,
                    sub_id,
                    metric=model.metric,
                    thresholds=_thresholds(model.thresholds),
                )
        except InvalidInput as exc:
            form.add_invalid_input(exc)
        else:
            return _done(request, sub_id, "Alert added: you are notified once per threshold.")
    return _page(request, ctx, user, sub_id, status=422, alert_form=form)


@router.post("/{sub_id}/alerts/{alert_id}/delete")
def delete_alert(request: Request, ctx: Ctx, sub_id: str, alert_id: str) -> Response:
    user = require_user(request)
    with ctx.tx() as conn:
        notifications.delete_alert(conn, user, sub_id, alert_id)
    return _done(request, sub_id, "Alert removed.")


@router.post("/{sub_id}/credits/buy")
def buy_credits(request: Request, ctx: Ctx, sub_id: str) -> Response:
    user = require_user(request)
    model, form = read_form(request, BuyForm)
    if model is not None:
        try:
            out = credits.buy(ctx, user, sub_id, amount=model.pack)
        except InvalidInput as exc:
            form.add_invalid_input(exc, aliases={"amount": "pack"})
        except Conflict as exc:
            form.add("pack", _sentence(exc.detail))
        else:
            return redirect(request, str(out["checkout_url"]))
    return _page(request, ctx, user, sub_id, status=422, buy_form=form)


@router.post("/{sub_id}/credits/auto-top-up")
def set_auto_top_up(request: Request, ctx: Ctx, sub_id: str) -> Response:
    user = require_user(request)
    model, form = read_form(request, TopUpForm)
    if model is not None:
        try:
            with ctx.tx() as conn:
                credits.set_auto_top_up(
                    ctx, conn, user, sub_id, below=model.below, amount=model.top_up_amount
                )
        except InvalidInput as exc:
            form.add_invalid_input(exc, aliases={"amount": "top_up_amount"})
        except Conflict as exc:
            form.add("below", _sentence(exc.detail))
        else:
            return _done(request, sub_id, "Automatic top-up is on.")
    return _page(request, ctx, user, sub_id, status=422, topup_form=form)


@router.post("/{sub_id}/credits/auto-top-up/off")
def auto_top_up_off(request: Request, ctx: Ctx, sub_id: str) -> Response:
    user = require_user(request)
    with ctx.tx() as conn:
        credits.set_auto_top_up(ctx, conn, user, sub_id, below=None, amount=None)
    return _done(request, sub_id, "Automatic top-up is off.")
