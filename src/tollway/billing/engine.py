"""The billing seam: what Tollway needs from a billing provider.

``BillingEngine`` is the one protocol between Tollway and a billing provider. The Stripe
engine (``tollway.billing.stripe``) is the only implementation that talks to a network;
``InMemoryBillingEngine`` (``tollway.billing.memory``) implements the same contract for
tests. Every value crossing the seam is a plain dataclass defined here, so callers never
see provider objects. Amounts are integer minor units; times are epoch seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal, Protocol

from tollway.domain.tax import NO_TAX, TaxSettings
from tollway.pricing.discounts import Coupon

#: Aggregation of a provider-side meter. ``last`` is used for distinct-count meters, to
#: which Tollway pushes the period-to-date value.
MeterAggregation = Literal["sum", "count", "last"]

#: How a usage price is charged.
UsageScheme = Literal["per_unit", "package", "graduated", "volume"]


@dataclass(frozen=True, slots=True)
class TierSpec:
    """One tier; ``up_to`` is None for the last tier. Amounts are in minor units and may
    be fractional (``Decimal("0.5")`` = half a cent), exactly as the provider accepts."""

    up_to: int | None
    unit_amount_minor: Decimal
    flat_amount_minor: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class UsagePriceSpec:
    meter_key: str  # Tollway's meter name, e.g. "requests"
    aggregation: MeterAggregation
    scheme: UsageScheme
    unit_amount_minor: Decimal = Decimal(0)  # per unit (per_unit) or per package (package)
    package_size: int = 1
    tiers: tuple[TierSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanBillingSpec:
    """Everything the provider needs to know about one plan on one API."""

    plan_id: str
    api_id: str
    name: str  # product name shown on invoices and in checkout
    currency: str  # ISO 4217, upper case
    interval: Literal["day", "week", "month", "year"]
    interval_count: int
    flat_fee_minor: int  # 0 = no flat fee
    usage: UsagePriceSpec | None  # the first usage price
    #: The plan's other usage prices, one per meter (a plan that bills several meters).
    more_usage: tuple[UsagePriceSpec, ...] = ()

    @property
    def is_paid(self) -> bool:
        return self.flat_fee_minor > 0 or self.usage is not None

    @property
    def usages(self) -> tuple[UsagePriceSpec, ...]:
        """Every usage price, in the plan's order."""
        return (self.usage, *self.more_usage) if self.usage is not None else ()

    def for_meter(self, usage: UsagePriceSpec) -> PlanBillingSpec:
        """The spec of one usage price alone (what its meter and metered price are
        named and fingerprinted from)."""
        return replace(self, usage=usage, more_usage=())


@dataclass(frozen=True, slots=True)
class ProvisionedMeter:
    """One usage price as provisioned: the provider meter and the metered price on it."""

    meter_key: str
    aggregation: MeterAggregation
    price_id: str
    meter_id: str
    event_name: str


@dataclass(frozen=True, slots=True)
class ProvisionedPlan:
    product_id: str
    flat_price_id: str | None
    usage_price_id: str | None
    meter_id: str | None
    meter_event_name: str | None
    retired_price_ids: tuple[str, ...] = ()
    created: tuple[str, ...] = ()  # ids created by this call (empty on a re-run)
    trial_days: int | None = None  # a new subscription's free trial (Checkout)
    #: Every usage price (the first one is also ``usage_price_id``/``meter_id``).
    meters: tuple[ProvisionedMeter, ...] = ()

    @property
    def usage_prices(self) -> dict[str, str]:
        """Provider meter id -> the metered price on it."""
        if self.meters:
            return {m.meter_id: m.price_id for m in self.meters}
        if self.meter_id and self.usage_price_id:
            return {self.meter_id: self.usage_price_id}
        return {}

    @property
    def usage_price_ids(self) -> tuple[str, ...]:
        """The metered prices a subscription to the plan has, one per meter."""
        if self.meters:
            return tuple(m.price_id for m in self.meters)
        return (self.usage_price_id,) if self.usage_price_id else ()


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    id: str
    url: str


@dataclass(frozen=True, slots=True)
class CheckoutInfo:
    id: str
    status: str  # open | complete | expired
    payment_status: str  # paid | unpaid | no_payment_required
    customer_id: str | None
    subscription_id: str | None  # the provider's subscription id
    client_reference_id: str | None

    @property
    def is_paid(self) -> bool:
        return self.status == "complete" and self.payment_status in ("paid", "no_payment_required")


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """A one-off charge: the provider's payment id, whether it succeeded, and why not."""

    id: str | None
    succeeded: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class InvoiceInfo:
    id: str | None  # None for a preview
    number: str | None
    status: str | None  # draft | open | paid | uncollectible | void
    currency: str  # upper case
    total_minor: int
    amount_due_minor: int
    period_start: int
    period_end: int
    hosted_url: str | None
    pdf_url: str | None
    subscription_id: str | None
    created: int
    lines: tuple[InvoiceLine, ...] = ()
    total_excluding_tax_minor: int | None = None  # None: the provider does not say
    tax_minor: int = 0


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    description: str
    amount_minor: int
    quantity: int | None
    price_id: str | None


@dataclass(frozen=True, slots=True)
class SubscriptionInfo:
    id: str
    status: str  # incomplete | trialing | active | past_due | unpaid | canceled | ...
    customer_id: str
    current_period_start: int
    current_period_end: int
    cancel_at_period_end: bool
    latest_invoice_id: str | None
    latest_invoice_status: str | None
    latest_invoice_created: int | None
    price_ids: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PriceChange:
    """Move a live subscription to another plan's prices at ``at`` (epoch seconds): the
    licensed item onto ``flat_price_id`` and the metered item onto ``usage_price_id``
    (an item whose new price is None is removed, a missing one added), prorated as
    ``proration_behavior`` says (``create_prorations`` | ``always_invoice`` | ``none``)."""

    flat_price_id: str | None
    usage_price_id: str | None
    proration_behavior: str
    at: int
    automatic_tax: bool = False  # the organization's Stripe Tax setting


@dataclass(frozen=True, slots=True)
class MeterPush:
    """One meter event. ``identifier`` is deterministic: the same window always yields
    the same identifier, so the provider drops a repeated push."""

    identifier: str
    event_name: str
    customer_id: str
    value: int
    timestamp: int  # epoch seconds; decides the billing period the usage lands in


@dataclass(frozen=True, slots=True)
class PushResult:
    accepted: tuple[str, ...]  # identifiers the provider accepted (or already had)
    failed: tuple[tuple[str, str], ...] = ()  # (identifier, error) refused for good


class BillingEngine(Protocol):
    """The billing provider as Tollway sees it. All methods are idempotent where the
    docstring says so; errors surface as ``tollway.domain.errors.BillingProviderError``
    (``RetryableProviderError`` for 429/5xx/network failures)."""

    def provision_plan(self, spec: PlanBillingSpec) -> ProvisionedPlan:
        """Create or find the product, prices and meter. Idempotent; a changed price
        creates a new price and retires the old one for new subscriptions."""
        ...

    def retire_plan(self, product_id: str) -> None:
        """Stop selling a plan (existing subscribers keep their prices)."""
        ...

    def ensure_customer(
        self, consumer_id: str, email: str | None, name: str | None, known_id: str | None
    ) -> str:
        """The provider customer for a consumer account, created once and reused."""
        ...

    def start_checkout(
        self,
        *,
        subscription_id: str,
        customer_id: str,
        plan: ProvisionedPlan,
        success_url: str,
        cancel_url: str,
        attempt: int = 0,
        tax: TaxSettings = NO_TAX,
    ) -> CheckoutSession:
        """A Checkout session for a new subscription; with ``tax.automatic_tax`` Stripe
        Tax computes its tax (the address entered is saved to the customer)."""
        ...

    def get_checkout(self, session_id: str) -> CheckoutInfo: ...

    def expire_checkout(self, session_id: str) -> None: ...

    def portal_url(self, customer_id: str, return_url: str) -> str: ...

    def get_subscription(self, provider_subscription_id: str) -> SubscriptionInfo: ...

    def cancel_subscription(self, provider_subscription_id: str) -> None:
        """Cancel now, invoicing the usage of the unfinished period; a subscription
        already cancelled is not an error."""
        ...

    def move_to_prices(
        self,
        provider_subscription_id: str,
        flat_price_id: str | None,
        usage_prices: Mapping[str, str],
        automatic_tax: bool = False,
    ) -> bool:
        """Put the subscription's licensed item on ``flat_price_id`` and each metered item
        on the price for its meter in ``usage_prices`` (provider meter id -> price id),
        adding the metered price of a meter it has no item for, without proration (with
        ``automatic_tax``, Stripe Tax on); True if anything changed."""
        ...

    def change_prices(self, provider_subscription_id: str, change: PriceChange) -> None:
        """Apply a plan change now (the old metered usage so far is billed at the old
        price: subscriptions are created with ``billing_mode=flexible``)."""
        ...

    def preview_change(
        self, customer_id: str, provider_subscription_id: str, change: PriceChange
    ) -> InvoiceInfo | None:
        """The invoice the change would produce: the next one (``create_prorations``,
        ``none``) or the one invoiced at once (``always_invoice``)."""
        ...

    def schedule_change(self, provider_subscription_id: str, change: PriceChange) -> None:
        """Apply a plan change at the period end ``change.at``, without proration."""
        ...

    def create_coupon(
        self, key: str, name: str, coupon: Coupon, code: str | None
    ) -> tuple[str, str | None]:
        """The provider's coupon and promotion code ids (idempotent on ``key``)."""
        ...

    def apply_coupon(self, provider_subscription_id: str, coupon_id: str) -> None:
        """Redeem the coupon on the live subscription (replacing its discounts)."""
        ...

    def push_usage(self, pushes: Sequence[MeterPush]) -> PushResult: ...

    def meter_total(self, meter_id: str, customer_id: str, start: int, end: int) -> int:
        """Sum of the meter's aggregated value for the customer in [start, end)."""
        ...

    def meter_error_report(self, event_id: str) -> dict[str, Any]:
        """The data of a meter error report event (Stripe: a thin v2 event, fetched)."""
        ...

    def preview_invoice(
        self, customer_id: str, provider_subscription_id: str
    ) -> InvoiceInfo | None: ...

    def list_invoices(self, customer_id: str, limit: int = 24) -> list[InvoiceInfo]: ...

    def get_invoice(self, invoice_id: str) -> InvoiceInfo: ...

    def start_payment_checkout(
        self,
        *,
        reference: str,
        customer_id: str,
        amount_minor: int,
        currency: str,
        description: str,
        success_url: str,
        cancel_url: str,
    ) -> CheckoutSession:
        """A one-off payment (a credit pack) that saves the card for off-session use."""
        ...

    def charge_saved_card(
        self,
        *,
        customer_id: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
    ) -> PaymentResult:
        """Charge the customer's saved card off session (an automatic top-up)."""
        ...
