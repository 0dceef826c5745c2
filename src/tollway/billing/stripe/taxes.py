"""Stripe Tax parameters from the organization's tax setting.

Checkout: ``automatic_tax[enabled]``; an existing customer (Tollway always passes one)
needs ``customer_update[address]=auto`` so that the address entered is saved and taxed
(Stripe refuses automatic tax otherwise when the customer has no address), and
``customer_update[name]=auto`` with tax ID collection, so the business name is saved.
Subscription updates carry ``automatic_tax[enabled]`` so that a subscription created
before tax was turned on follows the setting from its next change on.
"""

from __future__ import annotations

import stripe

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
