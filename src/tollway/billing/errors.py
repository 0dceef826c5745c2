"""Billing-specific refinements of the shared error tree."""

from __future__ import annotations

from tollway.domain.errors import BillingProviderError


class RetryableProviderError(BillingProviderError):
    """The provider failed in a way worth retrying: 429, 5xx, network trouble."""

    title = "Billing provider temporarily unavailable"
    type_slug = "billing-provider-retry"

    def __init__(self, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
