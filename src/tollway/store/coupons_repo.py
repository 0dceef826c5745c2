"""Coupons an organization created through Tollway (each one a Stripe coupon, with an
optional promotion code) and the coupon a subscription redeemed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    ForeignKey,
    String,
    Table,
    delete,
    func,
    select,
    update,
)

from tollway.domain.errors import NotFound
from tollway.domain.ids import new_id
from tollway.store.tables import ID, metadata
from tollway.store.types import UTCDateTime

coupons = Table(
    "coupons",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("organization_id", String(ID), ForeignKey("organizations.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("spec", JSON, nullable=False),  # Stripe's field names, see pricing.discounts
    Column("promotion_code", String(100), nullable=True),
    Column("stripe_coupon_id", String(255), nullable=True),
    Column("stripe_promotion_code_id", String(255), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

subscription_coupons = Table(
    "subscription_coupons",
    metadata,
    Column(
        "subscription_id",
        String(ID),
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("coupon_id", String(ID), ForeignKey("coupons.id"), nullable=False),
    Column("redeemed_at", UTCDateTime(), nullable=False),
)


def create(
    conn: Connection, organization_id: str, values: dict[str, Any], now: datetime
) -> dict[str, Any]:
    row = {"id": new_id("cpn"), "organization_id": organization_id, "created_at": now, **values}
    conn.execute(coupons.insert().values(**row))
    return row


def of_organization(conn: Connection, organization_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(coupons).where(coupons.c.organization_id == organization_id).order_by(coupons.c.id)
    )
    return [dict(r._mapping) for r in rows]


def find_code(conn: Connection, organization_id: str, code: str) -> dict[str, Any] | None:
    """The organization's coupon with this promotion code (case-insensitive), or None."""
    row = conn.execute(
        select(coupons).where(
            coupons.c.organization_id == organization_id,
            func.lower(coupons.c.promotion_code) == code.lower(),
        )
    ).first()
    return None if row is None else dict(row._mapping)


def by_code(conn: Connection, organization_id: str, code: str) -> dict[str, Any]:
    """``find_code``, or 404."""
    found = find_code(conn, organization_id, code)
    if found is None:
        raise NotFound("no such promotion code")
    return found


def redeem(conn: Connection, subscription_id: str, coupon_id: str, now: datetime) -> None:
    conn.execute(
        delete(subscription_coupons).where(
            subscription_coupons.c.subscription_id == subscription_id
        )
    )
    conn.execute(
        subscription_coupons.insert().values(
            subscription_id=subscription_id, coupon_id=coupon_id, redeemed_at=now
        )
    )


def of_subscription(
    conn: Connection, subscription_id: str
) -> tuple[dict[str, Any], datetime] | None:
    """The coupon the subscription redeemed and when, or None."""
    row = conn.execute(
        select(coupons, subscription_coupons.c.redeemed_at)
        .join(subscription_coupons, subscription_coupons.c.coupon_id == coupons.c.id)
        .where(subscription_coupons.c.subscription_id == subscription_id)
    ).first()
    if row is None:
        return None
    m = dict(row._mapping)
    return m, m.pop("redeemed_at")


def set_stripe_ids(conn: Connection, coupon_id: str, stripe_id: str, promo_id: str | None) -> None:
    conn.execute(
        update(coupons)
        .where(coupons.c.id == coupon_id)
        .values(stripe_coupon_id=stripe_id, stripe_promotion_code_id=promo_id)
    )
