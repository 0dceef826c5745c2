"""Billing's rows: the Stripe account of an organization, customers, provisioned plans,
the Stripe side of subscriptions, and which subscriptions are billed (the one join of
subscriptions, plans, billing plans and billing subscriptions that usage sync and
reconciliation read). Every row crosses the seam as a typed dataclass."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self

from sqlalchemy import Connection, Row, select, update

from tollway.domain.errors import NotFound
from tollway.domain.subscriptions import SubState
from tollway.store import plan_changes_repo
from tollway.store.billing_tables import (
    billing_customers,
    billing_plan_meters,
    billing_plans,
    billing_subscriptions,
    stripe_accounts,
)
from tollway.store.tables import plans, subscriptions


class _FromRow:
    @classmethod
    def of(cls, row: Row[Any]) -> Self:
        values = row._mapping
        return cls(**{f.name: values[f.name] for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class StripeAccount(_FromRow):
    """An organization's stored Stripe keys (secrets encrypted)."""

    organization_id: str
    account_id: str | None
    livemode: bool
    key_kind: str
    secret_key_encrypted: str
    secret_key_last4: str
    publishable_key: str
    webhook_secret_encrypted: str
    webhook_secret_last4: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class BillingSubscription(_FromRow):
    """The Stripe side of a Tollway subscription (periods in epoch seconds)."""

    subscription_id: str
    consumer_id: str
    customer_id: str
    checkout_session_id: str | None
    checkout_url: str | None
    checkout_attempt: int
    stripe_subscription_id: str | None
    stripe_status: str | None
    current_period_start: int | None
    current_period_end: int | None
    latest_invoice_id: str | None
    past_due_since: datetime | None
    activated_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ProvisionedRow(_FromRow):
    """A paid plan on an API as created at the provider."""

    product_id: str
    flat_price_id: str | None
    usage_price_id: str | None
    meter_id: str | None
    meter_event_name: str | None


@dataclass(frozen=True, slots=True)
class SubRow:
    """A subscription with the organization whose plan it is on."""

    id: str
    state: SubState
    plan_id: str
    api_id: str
    consumer_id: str
    application_id: str
    organization_id: str


@dataclass(frozen=True, slots=True)
class Billed:
    """One meter of a subscription whose usage goes to Stripe (activated, on a plan with
    a meter): a plan that bills several meters has one ``Billed`` per meter."""

    subscription_id: str
    organization_id: str
    customer_id: str
    meter_id: str | None
    meter_key: str
    event_name: str
    aggregation: str  # "sum" | "last"
    period_start_ms: int | None
    period_end_ms: int | None
    plan_changes_ms: tuple[int, ...] = ()  # when plan changes took effect: windows cut there

    @property
    def boundaries(self) -> tuple[int, ...]:
        ends = (self.period_start_ms, self.period_end_ms)
        return tuple(sorted({*(b for b in ends if b), *self.plan_changes_ms}))


# -- subscriptions ----------------------------------------------------------------------


def load_sub(conn: Connection, subscription_id: str) -> SubRow:
    row = conn.execute(
        select(
            subscriptions.c.id,
            subscriptions.c.state,
            subscriptions.c.plan_id,
            subscriptions.c.api_id,
            subscriptions.c.consumer_id,
            subscriptions.c.application_id,
            plans.c.organization_id,
        )
        .join(plans, plans.c.id == subscriptions.c.plan_id)
        .where(subscriptions.c.id == subscription_id)
    ).first()
    if row is None:
        raise NotFound(f"subscription {subscription_id} not found")
    return SubRow(
        id=row.id,
        state=SubState(row.state),
        plan_id=row.plan_id,
        api_id=row.api_id,
        consumer_id=row.consumer_id,
        application_id=row.application_id,
        organization_id=row.organization_id,
    )


def load_own_sub(conn: Connection, subscription_id: str, consumer_id: str | None) -> SubRow:
    """``load_sub`` for a caller who may only see their own subscriptions
    (``consumer_id``; None: any). Someone else's subscription is answered exactly like
    one that does not exist (the same NotFound), so ids cannot be probed; callers check
    this before anything else (Stripe configuration, billing rows) can answer."""
    sub = load_sub(conn, subscription_id)
    if consumer_id is not None and sub.consumer_id != consumer_id:
        raise NotFound(f"subscription {subscription_id} not found")
    return sub


def organization_of(conn: Connection, subscription_id: str) -> str | None:
    """The organization whose plan the subscription is on (None: no such subscription)."""
    org = conn.execute(
        select(plans.c.organization_id)
        .join(subscriptions, subscriptions.c.plan_id == plans.c.id)
        .where(subscriptions.c.id == subscription_id)
    ).scalar()
    return None if org is None else str(org)


# -- Stripe accounts ----------------------------------------------------------------------


def stripe_account(conn: Connection, organization_id: str | None) -> StripeAccount | None:
    """The organization's stored Stripe keys, or None."""
    row = conn.execute(
        select(stripe_accounts).where(stripe_accounts.c.organization_id == organization_id)
    ).first()
    return None if row is None else StripeAccount.of(row)


def stripe_accounts_all(conn: Connection) -> list[StripeAccount]:
    return [StripeAccount.of(r) for r in conn.execute(select(stripe_accounts))]


def stripe_configured(conn: Connection, organization_id: str | None = None) -> bool:
    """Whether the organization (None: any organization) has stored its Stripe keys."""
    q = select(stripe_accounts.c.organization_id)
    if organization_id is not None:
        q = q.where(stripe_accounts.c.organization_id == organization_id)
    return conn.execute(q.limit(1)).first() is not None


def save_stripe_account(conn: Connection, organization_id: str, values: dict[str, Any]) -> None:
    """Insert or replace the organization's Stripe keys (``values``: the other columns)."""
    done = conn.execute(
        stripe_accounts.update()
        .where(stripe_accounts.c.organization_id == organization_id)
        .values(**values)
    ).rowcount
    if not done:
        conn.execute(stripe_accounts.insert().values(organization_id=organization_id, **values))


# -- customers ----------------------------------------------------------------------------


def customer_id(conn: Connection, consumer_id: str, organization_id: str) -> str | None:
    """The consumer's Stripe customer in the organization's Stripe account, if any."""
    found = conn.execute(
        select(billing_customers.c.customer_id).where(
            billing_customers.c.consumer_id == consumer_id,
            billing_customers.c.organization_id == organization_id,
        )
    ).scalar()
    return None if found is None else str(found)


def add_customer(
    conn: Connection, consumer_id: str, organization_id: str, customer: str, now: datetime
) -> None:
    conn.execute(
        billing_customers.insert().values(
            consumer_id=consumer_id,
            organization_id=organization_id,
            customer_id=customer,
            created_at=now,
        )
    )


def customers_of(conn: Connection, consumer_id: str) -> list[tuple[str, str]]:
    """(organization id, Stripe customer id) of every Stripe account billing the consumer."""
    rows = conn.execute(
        select(billing_customers.c.organization_id, billing_customers.c.customer_id).where(
            billing_customers.c.consumer_id == consumer_id
        )
    ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


# -- provisioned plans --------------------------------------------------------------------


def provisioned(conn: Connection, api_id: str, plan_id: str) -> ProvisionedRow | None:
    row = conn.execute(
        select(billing_plans).where(
            billing_plans.c.api_id == api_id, billing_plans.c.plan_id == plan_id
        )
    ).first()
    return None if row is None else ProvisionedRow.of(row)


def provisioned_active(
    conn: Connection, *, api_id: str | None = None, plan_id: str | None = None
) -> list[tuple[str, str, str]]:
    """(api id, plan id, product id) of the plans on sale at the provider, for one API,
    one plan or one plan on one API."""
    q = select(billing_plans.c.api_id, billing_plans.c.plan_id, billing_plans.c.product_id)
    q = q.where(billing_plans.c.active.is_(True))
    if api_id is not None:
        q = q.where(billing_plans.c.api_id == api_id)
    if plan_id is not None:
        q = q.where(billing_plans.c.plan_id == plan_id)
    return [(str(r[0]), str(r[1]), str(r[2])) for r in conn.execute(q)]


def mark_provisioned_inactive(conn: Connection, api_id: str, plan_id: str, now: datetime) -> None:
    conn.execute(
        billing_plans.update()
        .where(billing_plans.c.api_id == api_id, billing_plans.c.plan_id == plan_id)
        .values(active=False, updated_at=now)
    )


def save_provisioned(conn: Connection, api_id: str, plan_id: str, values: dict[str, Any]) -> None:
    """Insert or replace what the provider holds for the plan on the API."""
    done = conn.execute(
        billing_plans.update()
        .where(billing_plans.c.api_id == api_id, billing_plans.c.plan_id == plan_id)
        .values(**values)
    ).rowcount
    if not done:
        conn.execute(billing_plans.insert().values(api_id=api_id, plan_id=plan_id, **values))


# -- the Stripe side of subscriptions -------------------------------------------------------


def billing_subscription(conn: Connection, **where: str) -> BillingSubscription | None:
    """The row matching one column (``subscription_id``, ``checkout_session_id`` or
    ``stripe_subscription_id``), or None."""
    ((column, value),) = where.items()
    row = conn.execute(
        select(billing_subscriptions).where(billing_subscriptions.c[column] == value)
    ).first()
    return None if row is None else BillingSubscription.of(row)


def insert_billing_subscription(
    conn: Connection, subscription_id: str, now: datetime, values: dict[str, Any]
) -> None:
    conn.execute(
        billing_subscriptions.insert().values(
            subscription_id=subscription_id, created_at=now, **values
        )
    )


def update_billing_subscription(
    conn: Connection, subscription_id: str, values: dict[str, Any], *, unset: str | None = None
) -> int:
    """Set ``values`` on the row; with ``unset``, only if that column is still NULL (so a
    value written first is kept). Returns the number of rows changed."""
    q = update(billing_subscriptions).where(
        billing_subscriptions.c.subscription_id == subscription_id
    )
    if unset is not None:
        q = q.where(billing_subscriptions.c[unset].is_(None))
    return conn.execute(q.values(**values)).rowcount


def past_due_since_before(conn: Connection, cutoff: datetime) -> list[str]:
    """Subscriptions Stripe reports ``past_due`` since ``cutoff`` or earlier."""
    rows = conn.execute(
        select(billing_subscriptions.c.subscription_id).where(
            billing_subscriptions.c.stripe_status == "past_due",
            billing_subscriptions.c.past_due_since <= cutoff,
        )
    )
    return [str(r[0]) for r in rows]


def billed_subscriptions(
    conn: Connection, subscription_id: str | None = None, *, with_period: bool = False
) -> list[Billed]:
    """Subscriptions whose usage goes to Stripe (a Stripe subscription exists and the
    plan has a meter), by id, one per meter the plan bills (in the plan's order);
    ``with_period``: only those whose billing period is known."""
    q = (
        select(
            billing_subscriptions.c.subscription_id,
            billing_subscriptions.c.customer_id,
            billing_subscriptions.c.current_period_start,
            billing_subscriptions.c.current_period_end,
            plans.c.organization_id,
            billing_plan_meters.c.meter_id,
            billing_plan_meters.c.meter_key,
            billing_plan_meters.c.meter_event_name,
            billing_plan_meters.c.meter_aggregation,
        )
        .join(subscriptions, subscriptions.c.id == billing_subscriptions.c.subscription_id)
        .join(plans, plans.c.id == subscriptions.c.plan_id)
        .join(
            billing_plan_meters,
            (billing_plan_meters.c.api_id == subscriptions.c.api_id)
            & (billing_plan_meters.c.plan_id == subscriptions.c.plan_id),
        )
        .where(billing_subscriptions.c.stripe_subscription_id.is_not(None))
        .order_by(billing_subscriptions.c.subscription_id, billing_plan_meters.c.position)
    )
    if subscription_id is not None:
        q = q.where(billing_subscriptions.c.subscription_id == subscription_id)
    if with_period:
        q = q.where(billing_subscriptions.c.current_period_start.is_not(None))
    return [
        Billed(
            subscription_id=r.subscription_id,
            organization_id=r.organization_id,
            customer_id=r.customer_id,
            meter_id=r.meter_id,
            meter_key=r.meter_key,
            event_name=r.meter_event_name,
            aggregation=r.meter_aggregation or "sum",
            period_start_ms=r.current_period_start * 1000 if r.current_period_start else None,
            period_end_ms=r.current_period_end * 1000 if r.current_period_end else None,
            plan_changes_ms=plan_changes_repo.cut_points_ms(conn, r.subscription_id),
        )
        for r in conn.execute(q).fetchall()
    ]


def delete_stripe_account(conn: Connection, organization_id: str) -> bool:
    """Forget the organization's Stripe keys; whether there were any."""
    deleted = conn.execute(
        stripe_accounts.delete().where(stripe_accounts.c.organization_id == organization_id)
    ).rowcount
    return bool(deleted)
