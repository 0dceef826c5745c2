"""Applying inbox events: fetch the current object from Stripe, then follow the access
table (``tollway.webhooks.access``). Every handler is idempotent, so a retried or
duplicated event changes nothing the second time.

=================================  ========================================================
event                              effect
=================================  ========================================================
checkout.session.completed         activate the pending subscription (exactly once, shared
                                   with the success redirect)
checkout.session.expired           cancel the pending (``on_hold``) subscription
invoice.payment_succeeded          re-read the subscription: unblock if Stripe says active
invoice.payment_failed             re-read the subscription: ``past_due`` -> grace period,
                                   then blocked; a failed old invoice changes nothing
invoice.payment_action_required    block while the latest invoice waits for the customer
customer.subscription.updated      follow Stripe's status through the access table
customer.subscription.deleted      cancel; the billing link is closed (kept as a tombstone
                                   with ``stripe_status=canceled`` so late events match)
v1.billing.meter.error_report_     mark the usage windows Stripe could not count as failed;
triggered, ...no_meter_found       keep the report for the publish-usage status
anything else                      acknowledged, logged, stored as ``ignored``
=================================  ========================================================
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from tollway.billing import credits
from tollway.billing.credentials import EngineProvider
from tollway.billing.engine import BillingEngine, SubscriptionInfo
from tollway.billing.errors import RetryableProviderError
from tollway.billing.service import BillingService
from tollway.domain.clock import Clock, SystemClock
from tollway.domain.errors import TollwayError
from tollway.domain.subscriptions import Cause, SubState
from tollway.store import (
    billing_repo,
    changes,
    inbox_repo,
    notify_repo,
    plan_changes_repo,
    plan_versions_repo,
    subscriptions_repo,
    tax_repo,
)
from tollway.store.billing_repo import BillingSubscription
from tollway.store.db import reading, transaction
from tollway.webhooks import access
from tollway.webhooks.meter_errors import METER_ERROR_EVENTS, apply_meter_error

log = logging.getLogger(__name__)

#: Invoice events the consumer is notified of (see tollway.workers.notify).
INVOICE_NOTIFICATIONS = {
    "invoice.payment_failed": "payment.failed",
    "invoice.finalized": "invoice.ready",
}

HANDLED = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.expired",
        "invoice.payment_succeeded",
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.payment_action_required",
        "invoice.finalized",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
    }
)


class WebhookProcessor:
    def __init__(
        self,
        db: Engine,
        service: BillingService,
        engines: EngineProvider,
        *,
        grace_s: int = 3 * 86400,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.service = service
        self.engines = engines
        self.grace = timedelta(seconds=grace_s)
        self.clock = clock or SystemClock()

    def now(self) -> datetime:
        return self.clock.now().astimezone(UTC)

    # -- driving --------------------------------------------------------------------

    def process(self, event_id: str) -> str | None:
        """Apply one event if nobody else is; returns the final inbox state or None."""
        row = inbox_repo.claim(self.db, event_id, self.now())
        if row is None:
            return None
        try:
            result = self.apply(row["type"], row["payload"], row["organization_id"])
            state = "ignored" if result.startswith("ignored") else "done"
        except RetryableProviderError as exc:
            state, result = "retry", f"retry: {exc.detail}"
        except TollwayError as exc:
            state, result = "retry", f"error: {exc.detail}"
        except Exception as exc:  # keep the worker alive; the event stays for a retry
            log.exception("webhook %s failed", event_id)
            state, result = "retry", f"error: {type(exc).__name__}: {exc}"
        inbox_repo.finish(self.db, event_id, state, result, self.now(), row["attempts"])
        log.info("webhook %s (%s): %s", event_id, row["type"], result)
        return state

    def run_pending(self, limit: int = 100) -> int:
        done = 0
        for event_id in inbox_repo.pending(self.db, self.now(), limit):
            if self.process(event_id) is not None:
                done += 1
        self.sweep_grace()
        return done

    # -- handlers -------------------------------------------------------------------

    def apply(self, type_: str, event: dict[str, Any], organization_id: str | None) -> str:
        if type_ in METER_ERROR_EVENTS:
            if organization_id is None:
                return "ignored: no organization"
            engine = self.engines.for_org(organization_id)
            return apply_meter_error(self.db, event, engine.meter_error_report, self.now())
        if type_ not in HANDLED:
            log.info("webhook event type %s is not used by Tollway: acknowledged", type_)
            return f"ignored: {type_} is not used"
        obj = (event.get("data") or {}).get("object") or {}
        object_id = str(obj.get("id") or "")
        if type_ in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            return self._checkout_completed(object_id)
        if type_ == "checkout.session.expired":
            return self._checkout_expired(object_id)
        if organization_id is None:
            return "ignored: no organization"
        engine = self.engines.for_org(organization_id)
        if type_.startswith("invoice."):
            invoice = engine.get_invoice(object_id)
            if not invoice.subscription_id:
                return "ignored: invoice without subscription"
            outcome = self.sync_subscription(
                engine, invoice.subscription_id, type_=type_, invoice_id=object_id
            )
            if type_ in INVOICE_NOTIFICATIONS:
                self._notify_invoice(type_, invoice.subscription_id, obj)
            return outcome
        return self.sync_subscription(engine, object_id, type_=type_)

    def _notify_invoice(self, type_: str, provider_sub_id: str, invoice: dict[str, Any]) -> None:
        """``payment.failed`` / ``invoice.ready`` for the subscription's consumer."""
        row = self._billing_row_for(provider_sub_id, {})
        if row is None:
            return
        with transaction(self.db) as conn:
            sub = subscriptions_repo.get_any(conn, row.subscription_id)
            notify_repo.emit(
                conn,
                str(sub["consumer_id"]),
                INVOICE_NOTIFICATIONS[type_],
                {
                    "subscription_id": row.subscription_id,
                    "invoice_id": invoice.get("id"),
                    "number": invoice.get("number"),
                    "amount_due": invoice.get("amount_due"),
                    "currency": invoice.get("currency"),
                    "hosted_invoice_url": invoice.get("hosted_invoice_url"),
                },
                self.now(),
            )

    def _checkout_completed(self, session_id: str) -> str:
        with reading(self.db) as conn:
            row = billing_repo.billing_subscription(conn, checkout_session_id=session_id)
        if row is None:  # a credit pack bought through Checkout, or someone else's
            return credits.settle_purchase(self.db, self.engines, session_id, self.now())
        moved = self.service.activate_from_checkout(session_id, cause=Cause.WEBHOOK)
        return "activated" if moved else "already active (or not paid)"

    def _checkout_expired(self, session_id: str) -> str:
        with reading(self.db) as conn:
            row = billing_repo.billing_subscription(conn, checkout_session_id=session_id)
        if row is None:
            return "ignored: checkout session not started by Tollway"
        engine = self.service.engine_for_subscription(row.subscription_id)
        info = engine.get_checkout(session_id)
        if info.status != "expired":
            return f"checkout session is {info.status}: no change"
        with transaction(self.db) as conn:
            moved = subscriptions_repo.move_state(
                conn,
                row.subscription_id,
                SubState.CANCELLED,
                cause=Cause.WEBHOOK,
                now=self.now(),
                reason="checkout session expired",
                only_from=[SubState.ON_HOLD],
            )
        return "cancelled" if moved else "no change"

    def _billing_row_for(
        self, provider_subscription_id: str, metadata: dict[str, str]
    ) -> BillingSubscription | None:
        with reading(self.db) as conn:
            row = billing_repo.billing_subscription(
                conn, stripe_subscription_id=provider_subscription_id
            )
            if row is None and metadata.get("tollway_subscription_id"):
                row = billing_repo.billing_subscription(
                    conn, subscription_id=metadata["tollway_subscription_id"]
                )
        return row

    def sync_subscription(
        self,
        engine: BillingEngine,
        provider_subscription_id: str,
        *,
        type_: str,
        invoice_id: str | None = None,
    ) -> str:
        info = engine.get_subscription(provider_subscription_id)
        row = self._billing_row_for(provider_subscription_id, info.metadata)
        if row is None:
            return "ignored: subscription not managed by Tollway"
        if row.current_period_start and info.current_period_start > row.current_period_start:
            with transaction(self.db) as conn:  # a plan change scheduled for this renewal
                plan_changes_repo.apply_due(
                    conn, row.subscription_id, info.current_period_start, self.now()
                )
        moved_prices = self._renewal_prices(engine, row, info)
        if (
            info.status in ("active", "trialing")
            and row.checkout_session_id
            and self._state(row.subscription_id) is SubState.ON_HOLD
        ):
            # Stripe says it is paid: activate a subscription still waiting for its
            # Checkout event (exactly once, shared with the event and the redirect).
            self.service.activate_from_checkout(row.checkout_session_id, cause=Cause.WEBHOOK)
        now = self.now()
        if type_ == "invoice.payment_action_required" and access.action_required_blocks(
            event_invoice_id=invoice_id,
            latest_invoice_id=info.latest_invoice_id,
            latest_status=info.latest_invoice_status,
        ):
            decision = access.Decision(
                SubState.BLOCKED,
                only_from=(SubState.ACTIVE,),
                reason="payment needs the customer's authentication",
                past_due_since=row.past_due_since,
            )
        else:
            decision = access.decide(
                status=info.status,
                latest_invoice_status=info.latest_invoice_status,
                past_due_since=row.past_due_since,
                now=now,
                grace=self.grace,
            )
        values: dict[str, Any] = {
            "stripe_subscription_id": info.id,
            "stripe_status": info.status,
            "current_period_start": info.current_period_start,
            "current_period_end": info.current_period_end,
            "latest_invoice_id": info.latest_invoice_id,
            "past_due_since": decision.past_due_since,
            "updated_at": now,
        }
        if info.status in ("canceled", "incomplete_expired"):
            values["cancelled_at"] = row.cancelled_at or now
        with transaction(self.db) as conn:
            billing_repo.update_billing_subscription(conn, row.subscription_id, values)
            moved = False
            if decision.target is not None:
                moved = subscriptions_repo.move_state(
                    conn,
                    row.subscription_id,
                    decision.target,
                    cause=Cause.WEBHOOK,
                    now=now,
                    reason=decision.reason,
                    only_from=decision.only_from or None,
                )
        target = decision.target.value if decision.target else "unchanged"
        note = "; moved to the plan's current prices" if moved_prices else ""
        return f"{info.status} -> {target if moved else 'no change'} ({decision.reason}){note}"

    def _renewal_prices(
        self, engine: BillingEngine, row: BillingSubscription, info: SubscriptionInfo
    ) -> bool:
        """A new plan version applies to existing subscribers from their next period when
        it was published with ``move_at_renewal``: the renewed subscription moves to its
        version's prices (and the gateway to its limits). A grandfathered one stays. One
        on the latest version on retired prices moves to the plan's current ones."""
        renewed = (
            row.current_period_start is not None
            and info.current_period_start > row.current_period_start
            and info.status in ("active", "trialing", "past_due")
        )
        if not renewed:
            return False
        with reading(self.db) as conn:
            sub = billing_repo.load_sub(conn, row.subscription_id)
            taxed = tax_repo.get(conn, sub.organization_id).automatic_tax
            at = plan_versions_repo.of_subscription(conn, sub.id, sub.plan_id)
            to = at.next_version
            target = plan_versions_repo.prices(conn, sub.api_id, sub.plan_id, to) if to else None
        if at.grandfathered:
            return False
        if to is not None:
            if target is None:
                log.warning("no Stripe prices for v%s of plan %s: not moved", to, sub.plan_id)
                return False
            plan = self.service.provisioned(sub.api_id, sub.plan_id)
            if plan is not None and target == (plan.flat_price_id, plan.usage_price_id):
                usage = dict(plan.usage_prices)  # the latest version: every meter's price
            else:  # an older version keeps one price id per kind: the plan's first meter
                meter = plan.meter_id if plan is not None else None
                usage = {meter: target[1]} if meter and target[1] else {}
            moved = engine.move_to_prices(info.id, target[0], usage, automatic_tax=taxed)
            with transaction(self.db) as conn:
                plan_versions_repo.set_subscription(conn, sub.id, sub.plan_id, to)
                changes.bump(conn)  # the gateway applies the version's limits
            return moved
        current = self.service.provisioned(sub.api_id, sub.plan_id)
        if current is None:
            return False
        wanted = {p for p in (current.flat_price_id, *current.usage_price_ids) if p}
        if set(info.price_ids) <= wanted:
            return False
        return engine.move_to_prices(
            info.id, current.flat_price_id, current.usage_prices, automatic_tax=taxed
        )

    def _state(self, subscription_id: str) -> SubState:
        with reading(self.db) as conn:
            return billing_repo.load_sub(conn, subscription_id).state

    def sweep_grace(self) -> int:
        """Block ``past_due`` subscriptions whose grace period has run out (no event
        arrives when a grace period ends, so this runs with the worker loop)."""
        if self.grace.total_seconds() < 0:
            return 0
        cutoff = self.now() - self.grace
        with reading(self.db) as conn:
            overdue = billing_repo.past_due_since_before(conn, cutoff)
        blocked = 0
        for subscription_id in overdue:
            with transaction(self.db) as conn:
                if subscriptions_repo.move_state(
                    conn,
                    subscription_id,
                    SubState.BLOCKED,
                    cause=Cause.SYSTEM,
                    now=self.now(),
                    reason="past_due beyond the grace period",
                    only_from=[SubState.ACTIVE],
                ):
                    blocked += 1
        return blocked
