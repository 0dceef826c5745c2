"""The usage event's fields are declared once (``UsageEvent``); the ledger table, the
spool line and the ledger writer follow them."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from tollway.metering.events import FIELDS, UsageEvent
from tollway.metering.spool import LINE_FIELDS, decode_event, encode_event, encode_line
from tollway.store.tables import usage_events


def test_the_ledger_table_has_exactly_the_event_fields() -> None:
    assert [c.name for c in usage_events.columns] == [*FIELDS, "recorded_at"]


def test_the_spool_line_is_the_event_fields_in_order() -> None:
    assert LINE_FIELDS == FIELDS
    event = UsageEvent(*(f"v{i}" for i in range(len(FIELDS))))  # type: ignore[arg-type]
    columns = encode_event(event).decode().rstrip("\n").split("\t")
    assert columns == ["1", *(getattr(event, name) for name in FIELDS)]


def test_a_line_needs_every_field_by_name() -> None:
    values = {name: "x" for name in FIELDS}
    del values["consumer_id"]
    try:
        encode_line(**values)
    except TypeError as exc:
        assert "consumer_id" in str(exc)
    else:
        raise AssertionError("a line without consumer_id was encoded")


def test_optional_fields_round_trip_as_empty_columns() -> None:
    event = UsageEvent(
        event_id="ue_1",
        timestamp_ms=1,
        organization_id="org",
        api_id="api",
        operation_id=None,
        method="GET",
        status=200,
        latency_ms=2,
        request_bytes=3,
        response_bytes=4,
        application_id="app",
        subscription_id="sub",
        credential_id="key",
        consumer_id="usr",
        environment="production",
        usage_value=None,
    )
    assert decode_event(encode_event(event)) == event
    priced = dataclasses.replace(event, usage_value=Decimal("2.5"), operation_id="op")
    assert decode_event(encode_event(priced)) == priced
