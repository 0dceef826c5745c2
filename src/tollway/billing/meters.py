"""The meter a plan's usage is measured with, as stored for the organization."""

from __future__ import annotations

from sqlalchemy import Connection

from tollway.domain.errors import NotFound
from tollway.metering.meters import DEFAULT_METER, MeterDefinition, parse_meter
from tollway.store import plans_repo


def meter_definition(conn: Connection, organization_id: str, key: str) -> MeterDefinition:
    """The organization's meter ``key`` (the built-in one for its key); NotFound otherwise."""
    stored = plans_repo.meter_row(conn, organization_id, key)
    if stored is not None:
        return parse_meter(stored["definition"])
    if key == DEFAULT_METER.key:
        return DEFAULT_METER
    raise NotFound(f"meter {key!r} is not defined")
