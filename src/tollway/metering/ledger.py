"""The usage ledger seam: where metered usage events are stored.

``LedgerWriter`` is what the gateway's spool flusher writes to; ``store.ledger.SqlLedger``
is the real one (the ``usage_events`` table), ``MemoryLedger`` the in-memory one with the
same idempotence for tests. Pure: no I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tollway.metering.events import UsageEvent


class LedgerWriter(Protocol):
    def write(self, events: Sequence[UsageEvent]) -> int:
        """Store the events (idempotent by event id); returns how many were new."""
        ...


class MemoryLedger:
    """In-memory ledger with the same idempotence, for tests and the embedded demo."""

    def __init__(self) -> None:
        self.events: dict[str, UsageEvent] = {}
        self.batches = 0

    def write(self, events: Sequence[UsageEvent]) -> int:
        self.batches += 1
        new = 0
        for e in events:
            if e.event_id not in self.events:
                self.events[e.event_id] = e
                new += 1
        return new
