"""How many calls a subscription has used in a billing period, counted from what was
actually admitted: the usage ledger, plus the events still in this host's spool (not
flushed yet), plus this process's admitted calls that are still in flight.

The shared Redis quota counter is seeded from this whenever it is missing: at the start
of a period, and after Redis lost its keys (restart without persistence, FLUSHDB,
failover). It never comes from a snapshot taken earlier. Runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, func, select

from tollway.metering.ledger import MemoryLedger
from tollway.metering.spool import CHECKPOINT_SUFFIX, LINE_FIELDS, SEGMENT_SUFFIX
from tollway.store import tables as t
from tollway.store.ledger import calls_between

_EVENT_ID = 1 + LINE_FIELDS.index("event_id")
_TIMESTAMP = 1 + LINE_FIELDS.index("timestamp_ms")
_SUBSCRIPTION = 1 + LINE_FIELDS.index("subscription_id")


class LedgerCounter(Protocol):
    def count(
        self, subscription_id: str, start_ms: int, end_ms: int, spooled: Collection[str]
    ) -> int:
        """Ledger events of the subscription in ``[start_ms, end_ms)``, plus the event
        ids in ``spooled`` (read from the spool before) that the ledger does not hold."""
        ...


class SqlLedgerCounter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def count(
        self, subscription_id: str, start_ms: int, end_ms: int, spooled: Collection[str]
    ) -> int:
        ids = list(spooled)
        u = t.usage_events.c
        with self.engine.connect() as conn:
            # The spooled ids already in the ledger first, then the total: an event flushed
            # in between is counted twice (stricter), never missed.
            known = 0
            for i in range(0, len(ids), 500):
                query = select(func.count()).where(u.event_id.in_(ids[i : i + 500]))
                known += int(conn.execute(query).scalar() or 0)
            total = calls_between(conn, subscription_id, start_ms, end_ms)
        return total + len(ids) - known


class MemoryLedgerCounter:
    """For a gateway writing to a ``MemoryLedger`` (tests, embedding)."""

    def __init__(self, ledger: MemoryLedger) -> None:
        self.ledger = ledger

    def count(
        self, subscription_id: str, start_ms: int, end_ms: int, spooled: Collection[str]
    ) -> int:
        events = list(self.ledger.events.values())
        total = sum(
            1
            for e in events
            if e.subscription_id == subscription_id and start_ms <= e.timestamp_ms < end_ms
        )
        return total + sum(1 for event_id in spooled if event_id not in self.ledger.events)


def spooled_event_ids(
    directory: str | os.PathLike[str], subscription_id: str, start_ms: int, end_ms: int
) -> set[str]:
    """Event ids of the subscription in ``[start_ms, end_ms)`` that are in the spool
    segments of ``directory`` past their flush checkpoint (not in the ledger yet, or
    flushed so recently that the checkpoint did not move)."""
    sub = subscription_id.encode()
    found: set[str] = set()
    for path in Path(directory).glob("*" + SEGMENT_SUFFIX):
        try:
            offset = int(path.with_suffix(CHECKPOINT_SUFFIX).read_text().strip() or "0")
        except (FileNotFoundError, ValueError):
            offset = 0
        try:
            with path.open("rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            continue  # drained and deleted meanwhile: its events are in the ledger
        for line in data.split(b"\n")[:-1]:  # the last piece is incomplete (or empty)
            if sub not in line:
                continue
            parts = line.split(b"\t")
            if len(parts) <= _SUBSCRIPTION or parts[_SUBSCRIPTION] != sub:
                continue
            if parts[_TIMESTAMP].isdigit() and start_ms <= int(parts[_TIMESTAMP]) < end_ms:
                found.add(parts[_EVENT_ID].decode("ascii", "replace"))
    return found


class InFlight:
    """Admitted calls on hard-quota plans whose exchange has not ended, by subscription."""

    def __init__(self) -> None:
        self.by_subscription: Counter[str] = Counter()

    def admitted(self, subscription_id: str) -> None:
        self.by_subscription[subscription_id] += 1

    def ended(self, subscription_id: str) -> None:
        left = self.by_subscription[subscription_id] - 1
        if left > 0:
            self.by_subscription[subscription_id] = left
        else:
            del self.by_subscription[subscription_id]


class QuotaUsage:
    """``await used(...)``: the count a missing quota counter is seeded with."""

    def __init__(
        self,
        spool_dir: str | os.PathLike[str],
        ledger: LedgerCounter | None,
        in_flight: InFlight,
        write_pending: Callable[[], None],
    ) -> None:
        """``write_pending`` writes this process's usage lines still in memory to the
        spool (so that the scan sees them)."""
        self.spool_dir = spool_dir
        self.ledger = ledger
        self.in_flight = in_flight
        self.write_pending = write_pending

    def _count(self, subscription_id: str, start_ms: int, end_ms: int) -> int:
        spooled = spooled_event_ids(self.spool_dir, subscription_id, start_ms, end_ms)
        if self.ledger is None:
            return len(spooled)
        return self.ledger.count(subscription_id, start_ms, end_ms, spooled)

    async def used(self, subscription_id: str, start_s: int, end_s: int) -> int:
        self.write_pending()
        in_flight = self.in_flight.by_subscription.get(subscription_id, 0)
        counted = await asyncio.to_thread(
            self._count, subscription_id, start_s * 1000, end_s * 1000
        )
        return counted + in_flight
