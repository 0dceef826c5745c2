"""Building the typed Stripe client, with the API version pinned.

Tollway pins the Stripe API version to the one the installed SDK (stripe-python 16.x)
was generated for, so that the SDK's typed objects and parameter TypedDicts describe
exactly what Stripe sends and accepts. Upgrading the SDK is the only way to move it;
``tests/billing/test_stripe_version.py`` fails if the two drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import stripe
from stripe._base_address import BaseAddresses

from tollway.billing.errors import RetryableProviderError
from tollway.domain.errors import BillingProviderError

#: The pinned Stripe API version (also documented in docs/stripe.md).
STRIPE_API_VERSION = "2026-10-28.endive"

T = TypeVar("T")


def make_client(
    secret_key: str, *, base_url: str | None = None, max_network_retries: int = 2
) -> stripe.StripeClient:
    """A ``StripeClient`` for ``secret_key``; ``base_url`` points it at the emulator."""
    bases: BaseAddresses = {}
    if base_url:
        url = base_url.rstrip("/")
        bases = {"api": url, "connect": url, "files": url, "meter_events": url}
    return stripe.StripeClient(
        secret_key,
        stripe_version=STRIPE_API_VERSION,
        base_addresses=bases,
        max_network_retries=max_network_retries,
    )


def _retry_after(err: stripe.StripeError) -> float | None:
    headers = err.headers or {}
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return float(value)
            except ValueError:
                return None
    return None


def translate(err: stripe.StripeError) -> BillingProviderError:
    """A Stripe SDK error as Tollway's error: retryable (429, 5xx, network) or not."""
    message = getattr(err, "user_message", None) or str(err._message or err)
    status = err.http_status
    if isinstance(err, stripe.RateLimitError | stripe.APIConnectionError) or (
        status is not None and (status == 429 or status >= 500)
    ):
        return RetryableProviderError(f"Stripe: {message}", _retry_after(err))
    return BillingProviderError(f"Stripe: {message}")


@contextmanager
def stripe_errors() -> Iterator[None]:
    """Turn SDK errors raised inside the block into ``BillingProviderError``."""
    try:
        yield
    except stripe.StripeError as err:
        raise translate(err) from err


def call(fn: Callable[[], T]) -> T:
    with stripe_errors():
        return fn()
