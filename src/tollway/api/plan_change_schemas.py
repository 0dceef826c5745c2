"""Request and response bodies of the plan-change endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from tollway.api.billing_schemas import InvoiceOut
from tollway.api.schemas import In

ProrationBehaviorName = Literal["create_prorations", "always_invoice", "none"]


class PlanChangePreviewIn(In):
    plan_id: str = Field(min_length=1, max_length=64, description="The plan to change to")
    proration_behavior: ProrationBehaviorName = Field(
        "create_prorations",
        description=(
            "create_prorations: the prorations and the old plan's usage so far go on the next "
            "invoice; always_invoice: they are invoiced and charged at once; none: neither "
            "is billed"
        ),
    )


class PlanChangeIn(PlanChangePreviewIn):
    when: Literal["now", "period_end"] = Field(
        "now",
        description=(
            "now: prorated as proration_behavior says; period_end: the current period is "
            "billed on the current plan and the next on the new one (no proration)"
        ),
    )


class ChangeComputationOut(BaseModel):
    currency: str
    total: str = Field(description='Decimal amount, e.g. "12.50"')
    total_minor: int
    lines: list[dict[str, Any]]
    invoiced_now: bool = Field(
        description="True: the invoice made at the change; False: the next invoice"
    )


class PlanChangePreviewOut(BaseModel):
    subscription_id: str
    from_plan_id: str
    to_plan_id: str
    effective_at: int = Field(description="Epoch seconds the preview assumes the change at")
    proration_behavior: ProrationBehaviorName
    tollway: ChangeComputationOut = Field(description="Tollway's computation (pricing core)")
    stripe: InvoiceOut | None = Field(description="Stripe's create_preview for the change")
    agrees: bool | None = Field(description="Whether both totals are equal to the cent")


class PlanChangeOut(BaseModel):
    id: str
    subscription_id: str
    from_plan_id: str
    to_plan_id: str
    timing: Literal["now", "period_end"]
    proration_behavior: ProrationBehaviorName
    effective_at: int = Field(description="Epoch seconds the change took (or takes) effect")
    state: Literal["applied", "scheduled", "cancelled"]
    created_at: datetime


class DefaultPlanIn(In):
    plan_id: str | None = Field(
        max_length=64, description="A free plan enabled on the API; null: no default plan"
    )


class DefaultPlanOut(BaseModel):
    api_id: str
    plan_id: str | None


class CouponIn(In):
    name: str = Field(min_length=1, max_length=200)
    coupon: dict[str, Any] = Field(
        description=(
            "Stripe's fields: duration (once|repeating|forever), percent_off or amount_off "
            '(a decimal string in major units, e.g. "10.00") with currency, '
            "duration_in_months for repeating"
        )
    )
    promotion_code: str | None = Field(
        None, min_length=3, max_length=100, pattern=r"^[A-Za-z0-9_-]+$"
    )


class CouponOut(BaseModel):
    id: str
    name: str
    spec: dict[str, Any]
    promotion_code: str | None
    created_at: datetime


class RedeemIn(In):
    promotion_code: str = Field(min_length=1, max_length=100)


class RedeemedOut(BaseModel):
    subscription_id: str
    coupon: CouponOut
