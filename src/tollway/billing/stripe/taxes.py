"""Stripe Tax parameters from the organization's tax setting.

Checkout: ``automatic_tax[enabled]``; an existing customer (Tollway always passes one)
needs ``customer_update[address]=auto`` so that the address entered is saved and taxed
(Stripe refuses automatic tax otherwise when the customer has no address), and
``customer_update[name]=auto`` with tax ID collection, so the business name is saved.
Subscription updates carry ``automatic_tax[enabled]`` so that a subscription created
before tax was turned on follows the setting from its next change on (``turn_on``).
"""

from __future__ import annotations

from typing import Any

import stripe

from tollway.billing.stripe import convert
from tollway.domain.tax import TaxSettings


def checkout_params(tax: TaxSettings) -> stripe.params.checkout.SessionCreateParams:
    out: stripe.params.checkout.SessionCreateParams = {}
    update: stripe.params.checkout.SessionCreateParamsCustomerUpdate = {}
    if tax.automatic_tax:
        out["automatic_tax"] = {"enabled": True}
        update["address"] = "auto"
    if tax.tax_id_collection:
        out["tax_id_collection"] = {"enabled": True}
        update["name"] = "auto"
    if tax.billing_address_collection == "required":
        out["billing_address_collection"] = "required"
        update["address"] = "auto"
    if update:
        out["customer_update"] = update
    return out


def turn_on(client: stripe.StripeClient, sub: dict[str, Any], wanted: bool) -> bool:
    """Whether an update of ``sub`` (a subscription as a dict) should turn automatic tax
    on: the organization wants it, the subscription does not have it yet, and Stripe can
    locate its customer — Stripe refuses the whole update otherwise
    (``customer_tax_location_invalid``), so such a subscription stays untaxed until the
    customer has an address (e.g. entered in the customer portal)."""
    if not wanted or (sub.get("automatic_tax") or {}).get("enabled"):
        return False
    customer_id = convert.id(sub.get("customer"))
    if customer_id is None:
        return False
    address = client.v1.customers.retrieve(customer_id).address
    return bool(address and address.country)
