"""The Stripe engine; the only package of Tollway that imports ``stripe``."""

from tollway.billing.stripe.client import STRIPE_API_VERSION, make_client
from tollway.billing.stripe.engine import StripeBillingEngine

__all__ = ["STRIPE_API_VERSION", "StripeBillingEngine", "make_client"]
