"""Stripe objects -> the engine's plain dataclasses (and small helpers)."""

from __future__ import annotations

from typing import Any

import stripe

from tollway.billing.engine import InvoiceInfo, InvoiceLine


def id(value: object) -> str | None:
    """An expandable field's id, whether Stripe sent the id or the object."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        v = value.get("id")
        return v if isinstance(v, str) else None
    got = getattr(value, "id", None)
    return got if isinstance(got, str) else None


def meta(value: object) -> dict[str, str]:
    if isinstance(value, stripe.StripeObject):
        return {str(k): str(v) for k, v in value.to_dict(recursive=False).items()}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return {}


def as_dict(obj: stripe.StripeObject) -> dict[str, Any]:
    return obj.to_dict()


def is_duplicate(err: stripe.StripeError) -> bool:
    """A meter event whose identifier Stripe has already seen."""
    text = str(err._message or "").lower()
    return err.http_status == 400 and (
        err.code in ("duplicate_meter_event", "resource_already_exists")
        or ("identifier" in text and ("already" in text or "duplicate" in text))
    )


def invoice_subscription(raw: dict[str, Any]) -> str | None:
    parent = raw.get("parent")
    if parent:
        details = parent.get("subscription_details")
        if details and details.get("subscription"):
            return id(details.get("subscription"))
    return id(raw.get("subscription"))


def invoice(inv: stripe.Invoice) -> InvoiceInfo:
    raw = as_dict(inv)
    lines: list[InvoiceLine] = []
    for line in (raw.get("lines") or {}).get("data") or []:
        pricing = line.get("pricing") or {}
        details = pricing.get("price_details") if pricing else None
        price = id(details.get("price")) if details else id(line.get("price"))
        qty = line.get("quantity")
        lines.append(
            InvoiceLine(
                description=str(line.get("description") or ""),
                amount_minor=int(line.get("amount") or 0),
                quantity=int(qty) if qty is not None else None,
                price_id=price,
            )
        )
    return InvoiceInfo(
        id=raw.get("id"),
        number=inv.number,
        status=inv.status,
        currency=str(inv.currency).upper(),
        total_minor=int(inv.total),
        amount_due_minor=int(inv.amount_due),
        period_start=int(inv.period_start),
        period_end=int(inv.period_end),
        hosted_url=inv.hosted_invoice_url,
        pdf_url=inv.invoice_pdf,
        subscription_id=invoice_subscription(raw),
        created=int(inv.created),
        lines=tuple(lines),
        total_excluding_tax_minor=raw.get("total_excluding_tax"),
        tax_minor=sum(int(t.get("amount") or 0) for t in raw.get("total_taxes") or []),
    )
