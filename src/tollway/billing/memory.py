"""An in-memory ``BillingEngine`` with the same contract as the Stripe engine, for tests
and the embedded demo. ``complete_checkout`` plays the customer paying."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

from tollway.billing.engine import (
    CheckoutInfo,
    CheckoutSession,
    InvoiceInfo,
    InvoiceLine,
    MeterPush,
    PaymentResult,
    PlanBillingSpec,
    PriceChange,
    ProvisionedMeter,
    ProvisionedPlan,
    PushResult,
    SubscriptionInfo,
    UsagePriceSpec,
)
from tollway.billing.naming import lookup_key, meter_event_name
from tollway.domain.errors import BillingProviderError
from tollway.domain.tax import NO_TAX, TaxSettings
from tollway.pricing.discounts import Coupon

_INTERVAL_S = {"day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


@dataclass
class _Price:
    id: str
    product: str
    spec: PlanBillingSpec
    component: str
    active: bool = True


@dataclass
class _Session:
    customer: str
    prices: list[str]
    ref: str
    status: str = "open"
    sub: str | None = None


@dataclass
class _Sub:
    id: str
    customer: str
    prices: list[str]
    start: int
    end: int
    status: str = "active"
    metadata: dict[str, str] = field(default_factory=dict)


def usage_amount_minor(u: UsagePriceSpec, quantity: int) -> int:
    """What a usage price charges for ``quantity`` units, in minor units (lines rounded
    half-up, like Stripe)."""
    q = Decimal(quantity)

    def r(d: Decimal) -> int:
        return int(d.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    if u.scheme == "per_unit":
        return r(q * u.unit_amount_minor)
    if u.scheme == "package":
        packages = (q / u.package_size).to_integral_value(rounding=ROUND_CEILING)
        return r(packages * u.unit_amount_minor)
    if q == 0 and u.tiers:  # Stripe bills the first tier's flat amount even without usage
        return r(u.tiers[0].flat_amount_minor)
    if u.scheme == "volume":
        for t in u.tiers:
            if t.up_to is None or q <= t.up_to:
                return r(q * t.unit_amount_minor) + r(t.flat_amount_minor) if q else 0
        return 0
    total, lower = 0, 0
    for t in u.tiers:
        upper = q if t.up_to is None else min(q, Decimal(t.up_to))
        if upper > lower:
            total += r((upper - lower) * t.unit_amount_minor) + r(t.flat_amount_minor)
        if t.up_to is None or q <= t.up_to:
            break
        lower = t.up_to
    return total


class InMemoryBillingEngine:
    def __init__(self, now: int = 1_800_000_000) -> None:
        self.now = now
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.saved_cards: set[str] = set()
        self.products: dict[tuple[str, str], str] = {}
        self.prices: dict[str, _Price] = {}
        self.lookup: dict[str, str] = {}
        self.meters: dict[str, str] = {}  # event name -> meter id
        self.customers: dict[str, str] = {}  # consumer -> customer
        self.sessions: dict[str, _Session] = {}
        self.subs: dict[str, _Sub] = {}
        self.events: dict[str, MeterPush] = {}  # identifier -> push
        self.meter_of: dict[str, str] = {}  # meter id -> event name
        self.scheduled: dict[str, PriceChange] = {}  # subscription -> change at period end

    def _id(self, prefix: str) -> str:
        return f"{prefix}_mem{next(self._ids)}"

    def provision_plan(self, spec: PlanBillingSpec) -> ProvisionedPlan:
        created: list[str] = []
        with self._lock:
            product = self.products.get((spec.api_id, spec.plan_id))
            if product is None:
                product = self.products[(spec.api_id, spec.plan_id)] = self._id("prod")
                created.append(product)
            flat_id = None
            if spec.flat_fee_minor > 0:
                flat_id = self._price(spec, product, "flat", created)
            meters: list[ProvisionedMeter] = []
            for usage in spec.usages:
                one = spec.for_meter(usage)
                event = meter_event_name(one)
                if event not in self.meters:
                    self.meters[event] = self._id("mtr")
                    self.meter_of[self.meters[event]] = event
                    created.append(self.meters[event])
                price_id = self._price(one, product, "usage", created)
                meters.append(
                    ProvisionedMeter(
                        usage.meter_key, usage.aggregation, price_id, self.meters[event], event
                    )
                )
            keep = {flat_id, *(m.price_id for m in meters)}
            retired = []
            for price in self.prices.values():
                if price.product == product and price.active and price.id not in keep:
                    price.active = False
                    retired.append(price.id)
        first = meters[0] if meters else None
        return ProvisionedPlan(
            product,
            flat_id,
            first.price_id if first else None,
            first.meter_id if first else None,
            first.event_name if first else None,
            tuple(retired),
            tuple(created),
            meters=tuple(meters),
        )

    def _price(
        self, spec: PlanBillingSpec, product: str, component: str, created: list[str]
    ) -> str:
        key = lookup_key(spec, component)
        if key not in self.lookup:
            price = _Price(self._id("price"), product, spec, component)
            self.prices[price.id] = price
            self.lookup[key] = price.id
            created.append(price.id)
        self.prices[self.lookup[key]].active = True
        return self.lookup[key]

    def retire_plan(self, product_id: str) -> None:
        for price in self.prices.values():
            if price.product == product_id:
                price.active = False

    def ensure_customer(
        self, consumer_id: str, email: str | None, name: str | None, known_id: str | None
    ) -> str:
        if known_id:
            return known_id
        with self._lock:
            return self.customers.setdefault(consumer_id, self._id("cus"))

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
        prices = [p for p in (plan.flat_price_id, *plan.usage_price_ids) if p]
        if not prices:
            raise BillingProviderError("the plan has no price to check out")
        sid = self._id("cs")
        self.sessions[sid] = _Session(customer_id, prices, subscription_id)
        return CheckoutSession(sid, f"memory://checkout/{sid}")

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
        sid = self._id("cs")
        self.sessions[sid] = _Session(customer_id, [], reference)
        self.saved_cards.add(customer_id)  # paying saves the card (Checkout's default here)
        return CheckoutSession(sid, f"memory://checkout/{sid}")

    def charge_saved_card(
        self,
        *,
        customer_id: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
    ) -> PaymentResult:
        if customer_id not in self.saved_cards:
            return PaymentResult(None, False, "no saved card to charge")
        return PaymentResult(f"pi_{idempotency_key}", True, None)

    def complete_checkout(self, session_id: str) -> str:
        """The customer pays: a subscription starts now (a payment-mode session is
        only marked paid)."""
        s = self.sessions[session_id]
        if not s.prices:
            s.status = "complete"
            return session_id
        sub = _Sub(
            self._id("sub"),
            s.customer,
            list(s.prices),
            self.now,
            self.now + 30 * 86400,
            metadata={"tollway_subscription_id": s.ref},
        )
        self.subs[sub.id] = sub
        s.status, s.sub = "complete", sub.id
        return sub.id

    def get_checkout(self, session_id: str) -> CheckoutInfo:
        s = self.sessions.get(session_id)
        if s is None:
            raise BillingProviderError(f"no such checkout session {session_id}")
        paid = "paid" if s.status == "complete" else "unpaid"
        return CheckoutInfo(session_id, s.status, paid, s.customer, s.sub, s.ref)

    def expire_checkout(self, session_id: str) -> None:
        s = self.sessions.get(session_id)
        if s is not None and s.status == "open":
            s.status = "expired"

    def portal_url(self, customer_id: str, return_url: str) -> str:
        return f"memory://portal/{customer_id}?return={return_url}"

    def get_subscription(self, provider_subscription_id: str) -> SubscriptionInfo:
        sub = self.subs.get(provider_subscription_id)
        if sub is None:
            raise BillingProviderError(f"no such subscription {provider_subscription_id}")
        return SubscriptionInfo(
            sub.id,
            sub.status,
            sub.customer,
            sub.start,
            sub.end,
            False,
            None,
            None,
            None,
            tuple(sub.prices),
            dict(sub.metadata),
        )

    def cancel_subscription(self, provider_subscription_id: str) -> None:
        sub = self.subs.get(provider_subscription_id)
        if sub is not None:
            sub.status = "canceled"

    def move_to_prices(
        self,
        provider_subscription_id: str,
        flat_price_id: str | None,
        usage_prices: Mapping[str, str],
        automatic_tax: bool = False,
    ) -> bool:
        sub = self.subs[provider_subscription_id]
        moved = [
            (
                flat_price_id
                if self.prices[p].component == "flat"
                else usage_prices.get(self.meters[meter_event_name(self.prices[p].spec)])
            )
            or p
            for p in sub.prices
        ]
        on_meters = {
            self.meters[meter_event_name(self.prices[p].spec)]
            for p in sub.prices
            if self.prices[p].component == "usage"
        }
        moved.extend(p for m, p in usage_prices.items() if m not in on_meters)
        changed = moved != sub.prices
        sub.prices = moved
        return changed

    def change_prices(self, provider_subscription_id: str, change: PriceChange) -> None:
        """Swap the prices (no proration is modelled here: the emulator models Stripe's)."""
        sub = self.subs[provider_subscription_id]
        sub.prices = [p for p in (change.flat_price_id, change.usage_price_id) if p]

    def preview_change(
        self, customer_id: str, provider_subscription_id: str, change: PriceChange
    ) -> InvoiceInfo | None:
        return None  # prorations are not modelled in memory

    def schedule_change(self, provider_subscription_id: str, change: PriceChange) -> None:
        self.scheduled[provider_subscription_id] = change

    def create_coupon(
        self, key: str, name: str, coupon: Coupon, code: str | None
    ) -> tuple[str, str | None]:
        return f"coupon_{key}", (f"promo_{key}" if code else None)

    def apply_coupon(self, provider_subscription_id: str, coupon_id: str) -> None:
        self.subs[provider_subscription_id].metadata["coupon"] = coupon_id

    def push_usage(self, pushes: Sequence[MeterPush]) -> PushResult:
        with self._lock:
            for p in pushes:
                self.events.setdefault(p.identifier, p)  # a repeated identifier is dropped
        return PushResult(tuple(p.identifier for p in pushes))

    def meter_total(self, meter_id: str, customer_id: str, start: int, end: int) -> int:
        name = self.meter_of.get(meter_id)
        return sum(
            e.value
            for e in self.events.values()
            if e.event_name == name and e.customer_id == customer_id and start <= e.timestamp < end
        )

    def meter_error_report(self, event_id: str) -> dict[str, Any]:
        return {}  # the in-memory provider validates at once and reports nothing later

    def preview_invoice(
        self, customer_id: str, provider_subscription_id: str
    ) -> InvoiceInfo | None:
        sub = self.subs.get(provider_subscription_id)
        if sub is None or sub.status == "canceled":
            return None
        lines: list[InvoiceLine] = []
        currency = "USD"
        for pid in sub.prices:
            price = self.prices[pid]
            currency = price.spec.currency
            if price.component == "flat":
                lines.append(InvoiceLine("flat fee", price.spec.flat_fee_minor, 1, pid))
            else:
                assert price.spec.usage is not None
                event = meter_event_name(price.spec)
                q = self.meter_total(self.meters[event], customer_id, sub.start, sub.end)
                lines.append(InvoiceLine("usage", usage_amount_minor(price.spec.usage, q), q, pid))
        total = sum(line.amount_minor for line in lines)
        return InvoiceInfo(
            None,
            None,
            "draft",
            currency,
            total,
            total,
            sub.start,
            sub.end,
            None,
            None,
            sub.id,
            self.now,
            tuple(lines),
        )

    def list_invoices(self, customer_id: str, limit: int = 24) -> list[InvoiceInfo]:
        return []

    def get_invoice(self, invoice_id: str) -> InvoiceInfo:
        raise BillingProviderError(f"no such invoice {invoice_id}")
