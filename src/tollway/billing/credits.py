"""Prepaid credit at the billing provider: buying a credit pack through Checkout,
settling it (from the webhook, the return page or a read — exactly once: the Checkout
session is the credit entry's reference), and automatic top-ups charged off session to
the card the first purchase saved (the top-up counter makes the idempotency key, so a
retried charge is never charged twice).
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine

from tollway.billing.credentials import EngineProvider
from tollway.billing.service import BillingService
from tollway.domain.errors import Conflict
from tollway.domain.money import format_amount, to_minor
from tollway.domain.subscriptions import SubState
from tollway.store import billing_repo, credits_repo, notify_repo
from tollway.store.db import reading, transaction

log = logging.getLogger(__name__)


def start_purchase(
    service: BillingService, subscription_id: str, amount: Decimal, currency: str
) -> str:
    """A Checkout URL that buys ``amount`` of credit for the subscription."""
    with reading(service.db) as conn:
        sub = billing_repo.load_sub(conn, subscription_id)
    if sub.state is not SubState.ACTIVE:
        raise Conflict(f"the subscription is {sub.state.value}; credit is bought for active ones")
    engine = service.engines.for_org(sub.organization_id)
    customer_id = service.ensure_customer(engine, sub.consumer_id, sub.organization_id)
    with reading(service.db) as conn:
        attempt = len(credits_repo.entries(conn, subscription_id))
        attempt += len(credits_repo.open_purchases(conn, subscription_id))
    reference = f"{subscription_id}-{attempt}-{to_minor(amount, currency)}"
    session = engine.start_payment_checkout(
        reference=reference,
        customer_id=customer_id,
        amount_minor=to_minor(amount, currency),
        currency=currency,
        description=f"{format_amount(amount, currency)} of API credit",
        success_url=f"{service.urls.public_url}/billing/credits/done?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{service.urls.public_url}/billing/credits/done?session_id={{CHECKOUT_SESSION_ID}}",
    )
    with transaction(service.db) as conn:
        if credits_repo.purchase(conn, session.id) is None:
            credits_repo.add_purchase(
                conn, session.id, subscription_id, str(amount), session.url, service.now()
            )
        credits_repo.update_account(
            conn, subscription_id, {"customer_id": customer_id, "updated_at": service.now()}
        )
    return session.url


def settle_purchase(db: Engine, engines: EngineProvider, session_id: str, now: datetime) -> str:
    """Credit a paid purchase (once); mark an expired one. Returns what happened."""
    with reading(db) as conn:
        purchase = credits_repo.purchase(conn, session_id)
        sub = billing_repo.load_sub(conn, purchase["subscription_id"]) if purchase else None
    if purchase is None or sub is None:
        return "ignored: not a credit purchase"
    if purchase["status"] != "open":
        return f"already {purchase['status']}"
    info = engines.for_org(sub.organization_id).get_checkout(session_id)
    if info.status == "expired":
        with transaction(db) as conn:
            credits_repo.set_purchase_status(conn, session_id, "expired")
        return "expired"
    if not info.is_paid:
        return "not paid yet"
    amount = Decimal(purchase["amount"])
    with transaction(db) as conn:
        added = credits_repo.add_entry(
            conn, sub.id, kind="purchase", amount=amount, reference=session_id, now=now
        )
        credits_repo.set_purchase_status(conn, session_id, "paid")
        if info.customer_id:
            credits_repo.update_account(
                conn, sub.id, {"customer_id": info.customer_id, "updated_at": now}
            )
    return "credited" if added else "already credited"


def auto_top_up(
    db: Engine,
    engines: EngineProvider,
    subscription_id: str,
    amount: Decimal,
    currency: str,
    now: datetime,
) -> bool:
    """Charge ``amount`` to the saved card and credit it. A failed charge turns automatic
    top-up off (the consumer turns it on again after fixing the card) and notifies."""
    with reading(db) as conn:
        account = credits_repo.account(conn, subscription_id)
        sub = billing_repo.load_sub(conn, subscription_id)
    if account is None or not account["customer_id"]:
        return False
    counter = int(account["topups"])
    result = engines.for_org(sub.organization_id).charge_saved_card(
        customer_id=str(account["customer_id"]),
        amount_minor=to_minor(amount, currency),
        currency=currency,
        idempotency_key=f"tollway-topup-{subscription_id}-{counter}",
        description=f"Automatic top-up: {format_amount(amount, currency)} of API credit",
    )
    with transaction(db) as conn:
        if result.succeeded and result.id:
            credits_repo.add_entry(
                conn,
                subscription_id,
                kind="auto_topup",
                amount=amount,
                reference=result.id,
                now=now,
            )
            credits_repo.update_account(
                conn,
                subscription_id,
                {"topups": counter + 1, "last_error": None, "updated_at": now},
            )
            return True
        credits_repo.update_account(
            conn,
            subscription_id,
            {"auto_topup_below": None, "last_error": result.error, "updated_at": now},
        )
        notify_repo.emit(
            conn,
            sub.consumer_id,
            "payment.failed",
            {"subscription_id": subscription_id, "reason": result.error, "automatic_top_up": True},
            now,
        )
    log.warning("automatic top-up failed", extra={"subscription_id": subscription_id})
    return False
