"""Request and response bodies of the billing endpoints (Stripe settings, usage jobs,
invoices, customer-portal sessions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class StripeSettingsIn(BaseModel):
    secret_key: str = Field(min_length=1, max_length=255)
    publishable_key: str = Field(min_length=1, max_length=255)
    webhook_secret: str = Field(
        min_length=1,
        max_length=2000,
        description="Webhook signing secret (whsec_…); several, one per line, during a rotation",
    )


class StripeSettingsOut(BaseModel):
    configured: bool
    account_id: str | None = None
    livemode: bool | None = None
    key_kind: str | None = None
    secret_key: str | None = Field(None, description="Only the last four characters")
    publishable_key: str | None = None
    webhook_secret: str | None = Field(None, description="Only the last four characters")
    webhook_url: str | None = None
    provisioned_plans: int | None = None
    provisioning_errors: list[str] = []


class JobOut(BaseModel):
    id: str
    kind: str
    state: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    events: int = 0
    errors: int = 0
    detail: dict[str, Any] | None = None
    failed_windows: int = Field(
        default=0, description="Usage windows Stripe refused or reported as not counted"
    )
    meter_errors: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Stripe's latest meter error reports (v1.billing.meter."
        "error_report_triggered), newest first",
    )


class InvoiceLineOut(BaseModel):
    description: str
    amount_minor: int
    quantity: int | None
    price_id: str | None


class InvoiceOut(BaseModel):
    id: str | None = Field(description="None for a preview")
    number: str | None
    status: str | None
    currency: str
    total: str = Field(description='Decimal amount, e.g. "12.50"')
    total_minor: int
    amount_due: str
    amount_due_minor: int
    period_start: str
    period_end: str
    link: str | None = Field(description="Hosted invoice page (or PDF)")
    hosted_url: str | None
    pdf_url: str | None
    subscription_id: str | None
    created: int
    lines: list[InvoiceLineOut]
    total_excluding_tax: str = Field(
        description="After discounts, before tax: what Tollway's estimate matches"
    )
    total_excluding_tax_minor: int | None = None
    tax: str = Field(description="The tax Stripe added (Stripe Tax), 0 without it")
    tax_minor: int = 0


class InvoiceListOut(BaseModel):
    data: list[InvoiceOut]


class EstimateOut(BaseModel):
    usage_quantity: int = Field(description="The usage of the plan's meters (summed)")
    usage_by_meter: dict[str, int] | None = Field(
        None, description="The usage of each meter the plan prices, by meter key"
    )
    currency: str
    total: str
    total_minor: int
    lines: list[dict[str, Any]]
    subtotal: str | None = Field(None, description="Before the coupon's discount")
    discount: str | None = Field(None, description="The redeemed coupon's discount")
    coupon: str | None = Field(None, description="The redeemed coupon's name")
    tax: Literal["calculated_by_stripe", "not_collected"] = Field(
        "not_collected",
        description="calculated_by_stripe: the amounts are before tax (Stripe Tax adds it)",
    )


class UpcomingOut(BaseModel):
    subscription_id: str
    period_start: str | None
    period_end: str | None
    stripe: InvoiceOut | None = Field(description="Stripe's preview of the next invoice")
    stripe_error: str | None = Field(
        default=None,
        description="Why Stripe's preview is missing (e.g. the key lacks rak_invoice_write); "
        "Tollway's estimate is still given",
    )
    tollway_estimate: EstimateOut = Field(description="Tollway's own estimate (pricing core)")
    agrees: bool | None = Field(
        description="Whether both totals are equal to the cent; null when Stripe gave no "
        "preview or when they differ while usage is still being processed by Stripe"
    )
    usage_pending: int = Field(
        default=0,
        description="Usage of the period Stripe may not have counted yet (not yet pushed, or "
        "pushed less than the meter lag ago)",
    )


class PortalOut(BaseModel):
    url: str
