"""The usage event: one proxied call, as the gateway records it.

This is the contract between the gateway (which produces events), the usage ledger
(which stores them, deduplicated by ``event_id``), the meters (which fold them into
aggregates) and billing (which pushes aggregates to Stripe). Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class UsageEvent:
    event_id: str  # unique, e.g. "ue_<ulid>"; the ledger deduplicates on it
    timestamp_ms: int  # epoch milliseconds, UTC, when the request arrived
    organization_id: str
    api_id: str
    operation_id: str | None  # None when the API declares no operations (passthrough)
    method: str  # upper-case HTTP method
    status: int  # HTTP status returned to the client
    latency_ms: int  # total time in the gateway, milliseconds
    request_bytes: int
    response_bytes: int
    application_id: str
    subscription_id: str
    credential_id: str  # api key id or oauth client id
    consumer_id: str  # the user owning the application
    environment: str  # "development" | "production"
    usage_value: Decimal | None = None  # upstream-reported usage (response header), if declared

    @property
    def status_class(self) -> int:
        """2 for 2xx, 4 for 4xx, …"""
        return self.status // 100
