"""One-off payments for prepaid credit: a credit pack bought through Checkout
(``mode=payment``, the card saved for later off-session use) and an automatic top-up
charged off session to the saved card."""

from __future__ import annotations

import stripe

from tollway.billing.engine import CheckoutSession, PaymentResult
from tollway.billing.stripe.client import stripe_errors
from tollway.domain.errors import BillingProviderError

META_PURCHASE = "tollway_credit_purchase"


def start_payment_checkout(
    client: stripe.StripeClient,
    *,
    reference: str,
    customer_id: str,
    amount_minor: int,
    currency: str,
    description: str,
    success_url: str,
    cancel_url: str,
) -> CheckoutSession:
    with stripe_errors():
        session = client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "customer": customer_id,
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": currency.lower(),
                            "unit_amount": amount_minor,
                            "product_data": {"name": description},
                        },
                    }
                ],
                "payment_intent_data": {
                    "setup_future_usage": "off_session",
                    "metadata": {META_PURCHASE: reference},
                },
                "success_url": success_url,
                "cancel_url": cancel_url,
                "client_reference_id": reference,
                "metadata": {META_PURCHASE: reference},
            },
            options={"idempotency_key": f"tollway-credit-{reference}"},
        )
    if not session.url:
        raise BillingProviderError("Stripe returned a checkout session without a URL")
    return CheckoutSession(id=session.id, url=session.url)


def charge_saved_card(
    client: stripe.StripeClient,
    *,
    customer_id: str,
    amount_minor: int,
    currency: str,
    idempotency_key: str,
    description: str,
) -> PaymentResult:
    """Charge the customer's default card off session. A decline or a card that needs
    the customer (authentication) is a failed result, not an error."""
    with stripe_errors():
        customer = client.v1.customers.retrieve(customer_id)
    settings = customer.invoice_settings
    method = settings.default_payment_method if settings is not None else None
    if not method:
        return PaymentResult(None, False, "no saved card to charge")
    method_id = method if isinstance(method, str) else method.id
    try:
        intent = client.v1.payment_intents.create(
            params={
                "amount": amount_minor,
                "currency": currency.lower(),
                "customer": customer_id,
                "payment_method": method_id,
                "off_session": True,
                "confirm": True,
                "description": description,
            },
            options={"idempotency_key": idempotency_key},
        )
    except stripe.CardError as err:
        return PaymentResult(None, False, f"{err.code}: {err.user_message or err}")
    except stripe.StripeError as err:
        with stripe_errors():
            raise err from None
    if intent.status != "succeeded":
        return PaymentResult(intent.id, False, f"payment is {intent.status}")
    return PaymentResult(intent.id, True, None)
