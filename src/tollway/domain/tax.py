"""An organization's tax setting: whether Stripe Tax computes the tax of its invoices,
and what Checkout collects for it. Pure values; the store keeps one per organization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AddressCollection = Literal["auto", "required"]

#: What an estimate says about tax: Tollway's amounts are before tax when Stripe adds it.
CALCULATED_BY_STRIPE = "calculated_by_stripe"
NOT_COLLECTED = "not_collected"


@dataclass(frozen=True, slots=True)
class TaxSettings:
    automatic_tax: bool = False  # Stripe Tax on Checkout, subscriptions and invoices
    tax_id_collection: bool = False  # Checkout asks business customers for a tax ID
    billing_address_collection: AddressCollection = "auto"

    @property
    def estimate_basis(self) -> str:
        """``calculated_by_stripe`` (estimates are before tax) or ``not_collected``."""
        return CALCULATED_BY_STRIPE if self.automatic_tax else NOT_COLLECTED


NO_TAX = TaxSettings()
