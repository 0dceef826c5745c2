"""The permissions Tollway asks of a restricted key are the ones its Stripe calls need:
a key with exactly REQUIRED_PERMISSIONS runs the upcoming-invoice preview."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator import Emulator
from tollway.billing.stripe.client import make_client
from tollway.billing.stripe.engine import StripeBillingEngine
from tollway.billing.stripe.keys import REQUIRED_PERMISSIONS
from tollway.domain.errors import BillingProviderError


def _subscription(client: stripe.StripeClient) -> tuple[str, str]:
    prod = client.v1.products.create(params={"name": "API"})
    price = client.v1.prices.create(
        params={
            "product": prod.id,
            "currency": "usd",
            "unit_amount": 500,
            "recurring": {"interval": "month"},
        }
    )
    cus = client.v1.customers.create(
        params={
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    sub = client.v1.subscriptions.create(
        params={"customer": cus.id, "items": [{"price": price.id}]}
    )
    return cus.id, sub.id


def test_required_permissions_cover_the_invoice_preview(
    emu: Emulator, stripe_client: stripe.StripeClient
) -> None:
    customer, sub = _subscription(stripe_client)
    key = emu.restricted_key(list(REQUIRED_PERMISSIONS))
    engine = StripeBillingEngine(make_client(key, base_url=emu.base_url, max_network_retries=0))
    preview = engine.preview_invoice(customer, sub)
    assert preview is not None and preview.amount_due_minor == 500
    assert len(engine.list_invoices(customer)) == 1
    # invoice read alone, as the docs used to say, is not enough for the preview
    reader = emu.restricted_key(
        [p for p in REQUIRED_PERMISSIONS if p != "rak_invoice_write"] + ["rak_invoice_read"]
    )
    weak = StripeBillingEngine(make_client(reader, base_url=emu.base_url, max_network_retries=0))
    with pytest.raises(BillingProviderError, match="rak_invoice_write"):
        weak.preview_invoice(customer, sub)
