"""The usage event: one proxied call, as the gateway records it.

This is the contract between the gateway (which produces events), the usage ledger
(which stores them, deduplicated by ``event_id``), the meters (which fold them into
aggregates) and billing (which pushes aggregates to Stripe). Pure data.

The fields are declared here once. Everything else derives from ``FIELDS`` and the
field types: the spool line (``metering.spool``), the ledger's columns and inserts
(``store.ledger``, ``store.tables.usage_events``), the events read back for billing.
"""

from __future__ import annotations

import dataclasses
import typing
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


#: The field names, in declaration order (the spool line's column order too).
FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(UsageEvent))
_TYPES = typing.get_type_hints(UsageEvent)
#: Fields that may be None.
OPTIONAL_FIELDS: tuple[str, ...] = tuple(
    n for n in FIELDS if type(None) in typing.get_args(_TYPES[n])
)
#: Integer fields.
INT_FIELDS: tuple[str, ...] = tuple(n for n in FIELDS if _TYPES[n] is int)
#: Decimal fields (optional or not).
DECIMAL_FIELDS: tuple[str, ...] = tuple(
    n for n in FIELDS if Decimal in (_TYPES[n], *typing.get_args(_TYPES[n]))
)


def as_dict(event: UsageEvent) -> dict[str, object]:
    """The event's fields by name (what a ledger row holds, without ``recorded_at``)."""
    return {name: getattr(event, name) for name in FIELDS}
