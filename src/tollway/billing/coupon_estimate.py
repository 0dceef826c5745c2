"""The discount of the subscription's redeemed coupon on Tollway's estimate (the
pricing core's ``apply_coupon``, the rule Stripe's invoice follows)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from tollway.domain.money import to_minor
from tollway.pricing.discounts import apply_coupon, discount_applies, parse_coupon
from tollway.pricing.lines import RatedInvoice
from tollway.store import coupons_repo


def with_discount(
    conn: Connection, subscription_id: str, rated: RatedInvoice, invoice_at_s: int
) -> dict[str, Any]:
    """``subtotal``, ``discount`` and ``total`` of the invoice made at ``invoice_at_s``
    (the period end). The upcoming invoice is taken as the first since the redemption
    (a ``once`` coupon already used up is not known here)."""
    found = coupons_repo.of_subscription(conn, subscription_id)
    coupon = None
    if found is not None:
        parsed = parse_coupon(found[0]["spec"])
        invoice_at = datetime.fromtimestamp(invoice_at_s, UTC)
        if discount_applies(parsed, found[1], invoice_at, invoices_before=0):
            coupon = parsed
    out = apply_coupon(rated, coupon)
    return {
        "subtotal": str(out.subtotal),
        "discount": str(out.discount),
        "total": str(out.total),
        "total_minor": to_minor(out.total, rated.currency),
        "coupon": None if found is None else found[0]["name"],
    }
