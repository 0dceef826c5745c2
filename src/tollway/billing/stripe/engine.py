"""The Stripe billing engine: ``BillingEngine`` over the typed ``StripeClient``.

Idempotency, so that a re-run or a crash halfway never creates anything twice:

* product: idempotency key ``tollway-product-<api>-<plan>``, then found again through
  its metadata (``tollway_plan_id``/``tollway_api_id``) when the key has expired;
* prices: a lookup key that contains a hash of the price (``tw_<api>_<plan>_<part>_<hash>``)
  — an unchanged price is found by its lookup key, a changed one gets a new key; the
  old prices of the product are then deactivated (existing subscriptions keep them);
* meter: found by its event name (unique per Stripe account) before creating;
* customers, checkout sessions: idempotency keys derived from Tollway ids;
* meter events: the deterministic ``identifier`` Tollway computes per usage window.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import stripe

from tollway.billing.engine import (
    CheckoutInfo,
    CheckoutSession,
    InvoiceInfo,
    MeterPush,
    PaymentResult,
    PlanBillingSpec,
    PriceChange,
    ProvisionedMeter,
    ProvisionedPlan,
    PushResult,
    SubscriptionInfo,
)
from tollway.billing.errors import RetryableProviderError
from tollway.billing.stripe import changes, convert, coupons, mapping, payments, taxes
from tollway.billing.stripe.client import stripe_errors, translate
from tollway.domain.errors import BillingProviderError
from tollway.domain.tax import NO_TAX, TaxSettings
from tollway.pricing.discounts import Coupon

log = logging.getLogger(__name__)


class StripeBillingEngine:
    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client

    # -- provisioning ---------------------------------------------------------------

    def _find_product(self, spec: PlanBillingSpec) -> stripe.Product | None:
        for product in self.client.v1.products.list(params={"limit": 100}).auto_paging_iter():
            meta = convert.meta(product.metadata)
            if (
                meta.get(mapping.META_PLAN) == spec.plan_id
                and meta.get(mapping.META_API) == spec.api_id
            ):
                return product
        return None

    def _ensure_product(self, spec: PlanBillingSpec, created: list[str]) -> str:
        product = self._find_product(spec)
        if product is None:
            product = self.client.v1.products.create(
                params={
                    "name": spec.name,
                    "metadata": {mapping.META_PLAN: spec.plan_id, mapping.META_API: spec.api_id},
                },
                options={"idempotency_key": mapping.product_key(spec)},
            )
            created.append(product.id)
        elif not product.active or product.name != spec.name:
            self.client.v1.products.update(product.id, params={"active": True, "name": spec.name})
        return product.id

    def _ensure_meter(self, spec: PlanBillingSpec, created: list[str]) -> tuple[str, str]:
        name = mapping.meter_event_name(spec)
        for meter in self.client.v1.billing.meters.list(params={"limit": 100}).auto_paging_iter():
            if meter.event_name == name:
                if meter.status != "active":
                    self.client.v1.billing.meters.reactivate(meter.id)
                return meter.id, name
        meter = self.client.v1.billing.meters.create(
            params=mapping.meter_params(spec),
            options={"idempotency_key": f"tollway-meter-{name}"},
        )
        created.append(meter.id)
        return meter.id, name

    def _ensure_price(
        self,
        spec: PlanBillingSpec,
        component: str,
        params: stripe.params.PriceCreateParams,
        created: list[str],
    ) -> str:
        key = mapping.lookup_key(spec, component)
        found = self.client.v1.prices.list(params={"lookup_keys": [key], "limit": 1})
        if found.data:
            price = found.data[0]
            if not price.active:
                self.client.v1.prices.update(price.id, params={"active": True})
            return price.id
        body: stripe.params.PriceCreateParams = {
            **params,
            "lookup_key": key,
            "metadata": {
                mapping.META_PLAN: spec.plan_id,
                mapping.META_API: spec.api_id,
                mapping.META_COMPONENT: component,
                mapping.META_HASH: mapping.price_fingerprint(spec, component),
            },
        }
        price = self.client.v1.prices.create(
            params=body, options={"idempotency_key": f"tollway-price-{key}"}
        )
        created.append(price.id)
        return price.id

    def _retire_other_prices(self, product_id: str, keep: set[str]) -> list[str]:
        retired: list[str] = []
        listing = self.client.v1.prices.list(
            params={"product": product_id, "active": True, "limit": 100}
        )
        for price in listing.auto_paging_iter():
            if price.id not in keep:
                self.client.v1.prices.update(price.id, params={"active": False})
                retired.append(price.id)
        return retired

    def provision_plan(self, spec: PlanBillingSpec) -> ProvisionedPlan:
        created: list[str] = []
        with stripe_errors():
            product_id = self._ensure_product(spec, created)
            flat_id = None
            if spec.flat_fee_minor > 0:
                flat_id = self._ensure_price(
                    spec, "flat", mapping.flat_price_params(spec, product_id), created
                )
            meters: list[ProvisionedMeter] = []
            for usage in spec.usages:  # one meter and one metered price per usage price
                one = spec.for_meter(usage)
                meter_id, event_name = self._ensure_meter(one, created)
                price_id = self._ensure_price(
                    one, "usage", mapping.usage_price_params(one, product_id, meter_id), created
                )
                meters.append(
                    ProvisionedMeter(
                        usage.meter_key, usage.aggregation, price_id, meter_id, event_name
                    )
                )
            keep = {p for p in (flat_id, *(m.price_id for m in meters)) if p}
            retired = self._retire_other_prices(product_id, keep)
        first = meters[0] if meters else None
        return ProvisionedPlan(
            product_id=product_id,
            flat_price_id=flat_id,
            usage_price_id=first.price_id if first else None,
            meter_id=first.meter_id if first else None,
            meter_event_name=first.event_name if first else None,
            retired_price_ids=tuple(retired),
            created=tuple(created),
            meters=tuple(meters),
        )

    def retire_plan(self, product_id: str) -> None:
        with stripe_errors():
            self._retire_other_prices(product_id, set())
            self.client.v1.products.update(product_id, params={"active": False})

    # -- customers, checkout, portal ------------------------------------------------

    def ensure_customer(
        self, consumer_id: str, email: str | None, name: str | None, known_id: str | None
    ) -> str:
        with stripe_errors():
            if known_id:
                return known_id
            params: stripe.params.CustomerCreateParams = {
                "metadata": {"tollway_consumer_id": consumer_id}
            }
            if email:
                params["email"] = email
            if name:
                params["name"] = name
            customer = self.client.v1.customers.create(
                params=params, options={"idempotency_key": f"tollway-customer-{consumer_id}"}
            )
            return customer.id

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
        items: list[stripe.params.checkout.SessionCreateParamsLineItem] = []
        if plan.flat_price_id:
            items.append({"price": plan.flat_price_id, "quantity": 1})
        for usage_price_id in plan.usage_price_ids:
            items.append({"price": usage_price_id})
        if not items:
            raise BillingProviderError("the plan has no Stripe price to check out")
        meta = {mapping.META_SUBSCRIPTION: subscription_id}
        subscription_data: stripe.params.checkout.SessionCreateParamsSubscriptionData = {
            "metadata": meta,
            "billing_mode": changes.FLEXIBLE,
        }
        if plan.trial_days:
            subscription_data["trial_period_days"] = plan.trial_days
        params: stripe.params.checkout.SessionCreateParams = {
            "mode": "subscription",
            "customer": customer_id,
            "line_items": items,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": subscription_id,
            "allow_promotion_codes": True,
            "metadata": meta,
            "subscription_data": subscription_data,
            **taxes.checkout_params(tax),
        }
        with stripe_errors():
            session = self.client.v1.checkout.sessions.create(
                params=params,
                options={"idempotency_key": f"tollway-checkout-{subscription_id}-{attempt}"},
            )
        if not session.url:
            raise BillingProviderError("Stripe returned a checkout session without a URL")
        return CheckoutSession(id=session.id, url=session.url)

    def get_checkout(self, session_id: str) -> CheckoutInfo:
        with stripe_errors():
            s = self.client.v1.checkout.sessions.retrieve(session_id)
        return CheckoutInfo(
            id=s.id,
            status=str(s.status or "open"),
            payment_status=str(s.payment_status),
            customer_id=convert.id(s.customer),
            subscription_id=convert.id(s.subscription),
            client_reference_id=s.client_reference_id,
        )

    def expire_checkout(self, session_id: str) -> None:
        with stripe_errors():
            s = self.client.v1.checkout.sessions.retrieve(session_id)
            if s.status == "open":
                self.client.v1.checkout.sessions.expire(session_id)

    def portal_url(self, customer_id: str, return_url: str) -> str:
        with stripe_errors():
            session = self.client.v1.billing_portal.sessions.create(
                params={"customer": customer_id, "return_url": return_url}
            )
        return session.url

    # -- subscriptions --------------------------------------------------------------

    def get_subscription(self, provider_subscription_id: str) -> SubscriptionInfo:
        with stripe_errors():
            sub = self.client.v1.subscriptions.retrieve(
                provider_subscription_id, params={"expand": ["latest_invoice"]}
            )
        raw = convert.as_dict(sub)
        items: list[dict[str, Any]] = list((raw.get("items") or {}).get("data") or [])
        starts = [int(i.get("current_period_start") or 0) for i in items]
        ends = [int(i.get("current_period_end") or 0) for i in items]
        ps = int(min(starts) if starts else raw.get("current_period_start") or 0)
        pe = int(max(ends) if ends else raw.get("current_period_end") or 0)
        inv = sub.latest_invoice
        inv_id = convert.id(inv)
        inv_status = getattr(inv, "status", None) if inv is not None else None
        inv_created = getattr(inv, "created", None) if inv is not None else None
        return SubscriptionInfo(
            id=sub.id,
            status=str(sub.status),
            customer_id=convert.id(sub.customer) or "",
            current_period_start=ps,
            current_period_end=pe,
            cancel_at_period_end=bool(sub.cancel_at_period_end),
            latest_invoice_id=inv_id,
            latest_invoice_status=str(inv_status) if inv_status else None,
            latest_invoice_created=int(inv_created) if inv_created else None,
            price_ids=tuple(p for p in (convert.id(i.get("price")) for i in items) if p),
            metadata=convert.meta(sub.metadata),
        )

    def cancel_subscription(self, provider_subscription_id: str) -> None:
        try:
            sub = self.client.v1.subscriptions.retrieve(provider_subscription_id)
            if sub.status in ("canceled", "incomplete_expired"):
                return
            # invoice_now: the usage of the unfinished period is invoiced at once
            self.client.v1.subscriptions.cancel(
                provider_subscription_id, params={"invoice_now": True}
            )
        except stripe.InvalidRequestError as err:
            if err.http_status == 404:
                return
            raise translate(err) from err
        except stripe.StripeError as err:
            raise translate(err) from err

    def move_to_prices(
        self,
        provider_subscription_id: str,
        flat_price_id: str | None,
        usage_prices: Mapping[str, str],
        automatic_tax: bool = False,
    ) -> bool:
        return changes.move_to_prices(
            self.client, provider_subscription_id, flat_price_id, usage_prices, automatic_tax
        )

    def change_prices(self, provider_subscription_id: str, change: PriceChange) -> None:
        changes.change_prices(self.client, provider_subscription_id, change)

    def preview_change(
        self, customer_id: str, provider_subscription_id: str, change: PriceChange
    ) -> InvoiceInfo | None:
        return changes.preview_change(self.client, customer_id, provider_subscription_id, change)

    def schedule_change(self, provider_subscription_id: str, change: PriceChange) -> None:
        changes.schedule_change(self.client, provider_subscription_id, change)

    def create_coupon(
        self, key: str, name: str, coupon: Coupon, code: str | None
    ) -> tuple[str, str | None]:
        return coupons.create_coupon(self.client, key, name, coupon, code)

    def apply_coupon(self, provider_subscription_id: str, coupon_id: str) -> None:
        coupons.apply_coupon(self.client, provider_subscription_id, coupon_id)

    # -- usage ----------------------------------------------------------------------

    def push_usage(self, pushes: Sequence[MeterPush]) -> PushResult:
        """Send meter events one by one; stops at the first retryable failure (which
        is raised after what succeeded is reported through ``PushResult.accepted`` of
        the exception's ``partial`` attribute)."""
        accepted: list[str] = []
        failed: list[tuple[str, str]] = []
        for push in pushes:
            try:
                self.client.v1.billing.meter_events.create(
                    params={
                        "event_name": push.event_name,
                        "identifier": push.identifier,
                        "timestamp": push.timestamp,
                        "payload": {
                            mapping.PAYLOAD_CUSTOMER: push.customer_id,
                            mapping.PAYLOAD_VALUE: str(push.value),
                        },
                    }
                )
                accepted.append(push.identifier)
            except stripe.StripeError as err:
                if convert.is_duplicate(err):
                    accepted.append(push.identifier)  # Stripe already has it
                    continue
                translated = translate(err)
                if isinstance(translated, RetryableProviderError):
                    translated.partial = PushResult(tuple(accepted), tuple(failed))  # type: ignore[attr-defined]
                    raise translated from err
                failed.append((push.identifier, translated.detail))
        return PushResult(tuple(accepted), tuple(failed))

    def meter_total(self, meter_id: str, customer_id: str, start: int, end: int) -> int:
        total = Decimal(0)
        with stripe_errors():
            summaries = self.client.v1.billing.meters.event_summaries.list(
                meter_id,
                params={"customer": customer_id, "start_time": start, "end_time": end},
            )
            for summary in summaries.auto_paging_iter():
                # The SDK types it as a float; Stripe sends whole numbers for our meters.
                total += Decimal(str(summary.aggregated_value))
        return int(total.to_integral_value())

    def meter_error_report(self, event_id: str) -> dict[str, Any]:
        with stripe_errors():
            event = self.client.v2.core.events.retrieve(event_id)
        data = convert.as_dict(event).get("data")
        return data if isinstance(data, dict) else {}

    # -- invoices -------------------------------------------------------------------

    def preview_invoice(
        self, customer_id: str, provider_subscription_id: str
    ) -> InvoiceInfo | None:
        try:
            inv = self.client.v1.invoices.create_preview(
                params={"customer": customer_id, "subscription": provider_subscription_id}
            )
        except stripe.InvalidRequestError as err:
            if err.code == "invoice_upcoming_none":
                return None
            raise translate(err) from err
        except stripe.StripeError as err:
            raise translate(err) from err
        return convert.invoice(inv)

    def list_invoices(self, customer_id: str, limit: int = 24) -> list[InvoiceInfo]:
        with stripe_errors():
            listing = self.client.v1.invoices.list(params={"customer": customer_id, "limit": limit})
        return [convert.invoice(inv) for inv in listing.data]

    def get_invoice(self, invoice_id: str) -> InvoiceInfo:
        with stripe_errors():
            return convert.invoice(self.client.v1.invoices.retrieve(invoice_id))

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
        return payments.start_payment_checkout(
            self.client,
            reference=reference,
            customer_id=customer_id,
            amount_minor=amount_minor,
            currency=currency,
            description=description,
            success_url=success_url,
            cancel_url=cancel_url,
        )

    def charge_saved_card(
        self,
        *,
        customer_id: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        description: str,
    ) -> PaymentResult:
        return payments.charge_saved_card(
            self.client,
            customer_id=customer_id,
            amount_minor=amount_minor,
            currency=currency,
            idempotency_key=idempotency_key,
            description=description,
        )
