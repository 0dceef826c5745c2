"""Trying a meter before pricing with it: apply a definition to the organization's
latest ledger events and say how many it matches and what it measures."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from tollway.domain.principal import Principal
from tollway.metering import measure, parse_meter
from tollway.store import subscribers_repo

SAMPLE_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class MeterTrial:
    events_read: int
    events_matched: int
    value: Decimal


def try_meter(
    conn: Connection, caller: Principal, definition: dict[str, Any], sample: int = SAMPLE_EVENTS
) -> MeterTrial:
    """The meter over the caller's organization's last ``sample`` ledger events
    (``InvalidInput`` located under ``definition`` if the definition is wrong)."""
    caller.require("publisher")
    meter = parse_meter(definition, ("definition",))
    events = subscribers_repo.recent_events(conn, caller.organization_id, sample)
    matched = [e for e in events if meter.matches(e)]
    return MeterTrial(len(events), len(matched), measure(meter, matched))
