"""BillingService: what the control plane calls for paid plans and subscriptions.

Where the control plane calls it:

* a paid plan is enabled on an API (``api_plans.enabled`` becomes true), or the pricing
  of an enabled plan changes -> ``provision_plan(api_id, plan_id)``;
* a consumer subscribes to a paid plan -> create the subscription ``on_hold``, then
  ``start_checkout(subscription_id)`` and hand the returned URL to the consumer;
* ``GET /billing/checkout/success`` and the ``checkout.session.completed`` webhook ->
  ``activate_from_checkout(session_id)`` (exactly once, whichever comes first);
* a consumer or admin cancels -> ``cancel(subscription_id, cause)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from tollway.billing import provisioned_plans
from tollway.billing.credentials import EngineProvider
from tollway.billing.engine import BillingEngine, ProvisionedPlan
from tollway.billing.meters import meter_definition
from tollway.billing.plans import plan_billing_spec
from tollway.domain.clock import Clock, SystemClock
from tollway.domain.errors import Conflict, NotFound
from tollway.domain.subscriptions import Cause, SubState
from tollway.pricing.spec import parse_pricing
from tollway.store import (
    apis_repo,
    billing_repo,
    plan_versions_repo,
    plans_repo,
    subscriptions_repo,
    tax_repo,
    users_repo,
)
from tollway.store.billing_repo import SubRow
from tollway.store.db import reading, writing

log = logging.getLogger(__name__)

#: Tollway states a subscription never leaves: a payment arriving then is not claimed.
ENDED = frozenset({SubState.CANCELLED, SubState.EXPIRED})


@dataclass(frozen=True, slots=True)
class BillingUrls:
    public_url: str  # where consumers reach Tollway, e.g. https://tollway.example.com

    def success(self) -> str:
        return f"{self.public_url}/billing/checkout/success?session_id={{CHECKOUT_SESSION_ID}}"

    def cancel(self, subscription_id: str) -> str:
        return f"{self.public_url}/billing/checkout/cancelled?subscription_id={subscription_id}"

    def portal_return(self) -> str:
        return f"{self.public_url}/portal/billing"


class BillingService:
    def __init__(
        self,
        db: Engine,
        engines: EngineProvider,
        urls: BillingUrls,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.engines = engines
        self.urls = urls
        self.clock = clock or SystemClock()
        #: Called with (subscription id, the caller's connection or None) right before a
        #: billed subscription is cancelled at Stripe; the wiring flushes its usage there.
        self.before_cancel: Callable[[str, Connection | None], object] | None = None

    def now(self) -> datetime:
        return self.clock.now().astimezone(UTC)

    def engine_for_subscription(
        self, subscription_id: str, conn: Connection | None = None
    ) -> BillingEngine:
        with reading(self.db, conn) as cx:
            sub = billing_repo.load_sub(cx, subscription_id)
        return self.engines.for_org(sub.organization_id)

    # -- plans ----------------------------------------------------------------------

    def provision_plan(
        self,
        api_id: str,
        plan_id: str,
        conn: Connection | None = None,
        engine: BillingEngine | None = None,
    ) -> ProvisionedPlan | None:
        """Create or find the Stripe product/prices/meter of a plan enabled on an API.
        Idempotent. Returns None for a free plan (nothing to bill)."""
        with reading(self.db, conn) as cx:
            plan = plans_repo.get_any(cx, plan_id)
            api = apis_repo.get_any(cx, api_id)
            pricing = parse_pricing(plan["pricing"], plan["currency"], several_meters=True)
            meters = {
                key: meter_definition(cx, plan["organization_id"], key) for key in pricing.meters
            }
        if pricing.is_free:
            return None
        spec = plan_billing_spec(
            plan_id=plan_id,
            api_id=api_id,
            name=f"{api['name']} — {plan['name']}",
            billing_interval=plan["billing_interval"],
            interval_count=int(plan.get("billing_interval_count") or 1),
            pricing=pricing,
            meters=meters,
        )
        engine = engine or self.engines.for_org(plan["organization_id"])
        result = engine.provision_plan(spec)
        with writing(self.db, conn) as cx:
            provisioned_plans.save(cx, spec, result, self.now())
            version = plan_versions_repo.latest(cx, plan_id)  # the plan row's prices
            plan_versions_repo.record_prices(
                cx, api_id, plan_id, version, result.flat_price_id, result.usage_price_id
            )
        log.info(
            "provisioned plan %s on API %s: product %s, created %d object(s)",
            plan_id,
            api_id,
            result.product_id,
            len(result.created),
        )
        return result

    def provisioned(
        self, api_id: str, plan_id: str, conn: Connection | None = None
    ) -> ProvisionedPlan | None:
        with reading(self.db, conn) as cx:
            return provisioned_plans.load(cx, api_id, plan_id)

    # -- customers and checkout -----------------------------------------------------

    def ensure_customer(
        self,
        engine: BillingEngine,
        consumer_id: str,
        organization_id: str,
        conn: Connection | None = None,
    ) -> str:
        """One Stripe customer per consumer account (in each organization's Stripe
        account), created once and reused."""
        with reading(self.db, conn) as cx:
            known = billing_repo.customer_id(cx, consumer_id, organization_id)
            user = users_repo.get_user(cx, consumer_id) if known is None else None
        if known:
            return known
        assert user is not None
        customer_id = engine.ensure_customer(consumer_id, user["email"], user["name"], None)
        with writing(self.db, conn) as cx:
            existing = billing_repo.customer_id(cx, consumer_id, organization_id)
            if existing:
                return existing
            billing_repo.add_customer(cx, consumer_id, organization_id, customer_id, self.now())
        return customer_id

    def requires_payment(self, api_id: str, plan_id: str, conn: Connection | None = None) -> bool:
        with reading(self.db, conn) as cx:
            plan = plans_repo.get_any(cx, plan_id)
        return not parse_pricing(plan["pricing"], plan["currency"], several_meters=True).is_free

    def start_checkout(self, subscription_id: str, conn: Connection | None = None) -> str:
        """A Checkout URL for an ``on_hold`` subscription of a paid plan. Calling it again
        returns the same open session's URL."""
        with reading(self.db, conn) as cx:
            sub = billing_repo.load_sub(cx, subscription_id)
            existing = billing_repo.billing_subscription(cx, subscription_id=subscription_id)
        if sub.state is not SubState.ON_HOLD:
            raise Conflict(f"subscription is {sub.state.value}, not waiting for payment")
        engine = self.engines.for_org(sub.organization_id)
        if existing is not None and existing.checkout_session_id and existing.checkout_url:
            info = engine.get_checkout(existing.checkout_session_id)
            if info.status == "open":
                return str(existing.checkout_url)
        plan = self.provisioned(sub.api_id, sub.plan_id, conn) or self.provision_plan(
            sub.api_id, sub.plan_id, conn
        )
        if plan is None:
            raise Conflict("the plan is free: no checkout needed")
        with reading(self.db, conn) as cx:
            plan = replace(plan, trial_days=plans_repo.get_any(cx, sub.plan_id).get("trial_days"))
            tax = tax_repo.get(cx, sub.organization_id)
        self._refuse_second_billed(sub, conn)
        customer_id = self.ensure_customer(engine, sub.consumer_id, sub.organization_id, conn)
        attempt = (existing.checkout_attempt + 1) if existing is not None else 0
        session = engine.start_checkout(
            subscription_id=subscription_id,
            customer_id=customer_id,
            plan=plan,
            success_url=self.urls.success(),
            cancel_url=self.urls.cancel(subscription_id),
            attempt=attempt,
            tax=tax,
        )
        now = self.now()
        values = {
            "consumer_id": sub.consumer_id,
            "customer_id": customer_id,
            "checkout_session_id": session.id,
            "checkout_url": session.url,
            "checkout_attempt": attempt,
            "updated_at": now,
        }
        with writing(self.db, conn) as cx:
            if existing is None:
                billing_repo.insert_billing_subscription(cx, subscription_id, now, values)
            else:
                billing_repo.update_billing_subscription(cx, subscription_id, values)
        return session.url

    def _refuse_second_billed(self, sub: SubRow, conn: Connection | None = None) -> None:
        """Stripe bills a meter per customer: two live subscriptions of one consumer on
        the same API and plan would both be charged for the usage of each."""
        with reading(self.db, conn) as cx:
            other = subscriptions_repo.other_live_on_plan(cx, sub.id)
        if other is not None:
            raise Conflict(
                "you already have a subscription to this plan of this API (from another "
                "application); one paid subscription per plan and API per account"
            )

    def activate_from_checkout(
        self, session_id: str, cause: Cause = Cause.USER, conn: Connection | None = None
    ) -> bool:
        """Activate the subscription paid in this Checkout session. Exactly once: returns
        True only for the call that moved it from ``on_hold`` to ``active``."""
        with reading(self.db, conn) as cx:
            row = billing_repo.billing_subscription(cx, checkout_session_id=session_id)
        if row is None:
            raise NotFound("unknown checkout session")
        engine = self.engine_for_subscription(row.subscription_id, conn)
        info = engine.get_checkout(session_id)
        if not info.is_paid:
            return False
        current = engine.get_subscription(info.subscription_id) if info.subscription_id else None
        now = self.now()
        with writing(self.db, conn) as cx:
            if current is not None:  # periods known before the state is visible as active
                billing_repo.update_billing_subscription(
                    cx,
                    row.subscription_id,
                    {
                        "stripe_status": current.status,
                        "current_period_start": current.current_period_start,
                        "current_period_end": current.current_period_end,
                        "latest_invoice_id": current.latest_invoice_id,
                    },
                    unset="current_period_start",
                )
            billing_repo.update_billing_subscription(
                cx,
                row.subscription_id,
                {"stripe_subscription_id": info.subscription_id, "updated_at": now},
                unset="stripe_subscription_id",
            )
            moved = subscriptions_repo.move_state(
                cx,
                row.subscription_id,
                SubState.ACTIVE,
                cause=cause,
                now=now,
                reason="paid in Stripe Checkout",
                only_from=[SubState.ON_HOLD],
            )
            if moved:
                billing_repo.update_billing_subscription(
                    cx, row.subscription_id, {"activated_at": now}
                )
            ended = not moved and billing_repo.load_sub(cx, row.subscription_id).state in ENDED
        if ended and info.subscription_id:
            # Paid, but the Tollway subscription was cancelled (or expired) while the
            # payment was on its way: nothing will ever activate it, so the Stripe
            # subscription the Checkout created must not keep billing. Idempotent.
            self._cancel_unclaimed(engine, row.subscription_id, info.subscription_id, conn)
        return moved

    def _cancel_unclaimed(
        self,
        engine: BillingEngine,
        subscription_id: str,
        provider_subscription_id: str,
        conn: Connection | None,
    ) -> None:
        """Cancel the provider subscription a completed Checkout created for a Tollway
        subscription that had already ended (no usage was ever recorded on it)."""
        log.warning(
            "subscription %s ended before its Checkout payment was processed: "
            "cancelling Stripe subscription %s",
            subscription_id,
            provider_subscription_id,
        )
        engine.cancel_subscription(provider_subscription_id)
        now = self.now()
        with writing(self.db, conn) as cx:
            update = billing_repo.update_billing_subscription
            update(
                cx,
                subscription_id,
                {"stripe_subscription_id": provider_subscription_id},
                unset="stripe_subscription_id",
            )
            update(cx, subscription_id, {"cancelled_at": now}, unset="cancelled_at")
            update(cx, subscription_id, {"stripe_status": "canceled", "updated_at": now})

    def checkout_state(self, session_id: str, conn: Connection | None = None) -> SubState:
        """The Tollway state of the subscription this Checkout session pays for (what
        the success page tells the consumer)."""
        with reading(self.db, conn) as cx:
            row = billing_repo.billing_subscription(cx, checkout_session_id=session_id)
            if row is None:
                raise NotFound("unknown checkout session")
            return billing_repo.load_sub(cx, row.subscription_id).state

    # -- portal and cancellation ----------------------------------------------------

    def portal_url(
        self, subscription_id: str, consumer_id: str, conn: Connection | None = None
    ) -> str:
        with reading(self.db, conn) as cx:
            sub = billing_repo.load_own_sub(cx, subscription_id, consumer_id)  # 404 if not theirs
            row = billing_repo.billing_subscription(cx, subscription_id=subscription_id)
        if row is None:
            raise NotFound("this subscription is not billed through Stripe")
        return self.engines.for_org(sub.organization_id).portal_url(
            row.customer_id, self.urls.portal_return()
        )

    def cancel(
        self,
        subscription_id: str,
        cause: Cause = Cause.USER,
        actor: str | None = None,
        conn: Connection | None = None,
    ) -> bool:
        """End the subscription on both sides: Stripe first (so nothing keeps billing),
        then Tollway. Returns True if the Tollway state changed."""
        with reading(self.db, conn) as cx:
            sub = billing_repo.load_sub(cx, subscription_id)
            row = billing_repo.billing_subscription(cx, subscription_id=subscription_id)
        unclaimed: str | None = None  # paid in Checkout, not activated yet
        if row is not None:
            engine = self.engines.for_org(sub.organization_id)
            if row.stripe_subscription_id:
                if self.before_cancel is not None:  # push the last usage first
                    self.before_cancel(subscription_id, conn)
                engine.cancel_subscription(row.stripe_subscription_id)
            elif row.checkout_session_id:
                # Expire first: an expired session can no longer complete, so the read
                # after it is final. A session the consumer already paid (complete) has
                # created a Stripe subscription that nothing has claimed yet and that
                # would keep billing: cancel it too (nothing was used on it: on hold).
                engine.expire_checkout(row.checkout_session_id)
                info = engine.get_checkout(row.checkout_session_id)
                if info.subscription_id:
                    engine.cancel_subscription(info.subscription_id)
                    unclaimed = info.subscription_id
        now = self.now()
        with writing(self.db, conn) as cx:
            # billing row first, then the subscription: the order the webhook processor
            # writes them in, so a cancel racing Stripe's deleted webhook cannot deadlock
            if row is not None:
                values: dict[str, Any] = {
                    "cancelled_at": now,
                    "updated_at": now,
                    "stripe_status": "canceled",
                }
                if unclaimed is not None:
                    values["stripe_subscription_id"] = unclaimed
                billing_repo.update_billing_subscription(cx, subscription_id, values)
            moved = subscriptions_repo.move_state(
                cx, subscription_id, SubState.CANCELLED, cause=cause, now=now, actor=actor
            )
        return moved
