"""Billing meters, meter events (dedupe, time window) and event summaries."""

from __future__ import annotations

import time
from typing import Any

import pytest
import stripe


def _meter(
    client: stripe.StripeClient, formula: str = "sum", name: str = "api_calls"
) -> stripe.billing.Meter:
    return client.v1.billing.meters.create(
        params={
            "display_name": "API calls",
            "event_name": name,
            "default_aggregation": {"formula": formula},  # type: ignore[typeddict-item]
            "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
            "value_settings": {"event_payload_key": "value"},
        }
    )


def event(
    client: stripe.StripeClient, customer: str, value: str, **params: Any
) -> stripe.billing.MeterEvent:
    """A meter event for ``_meter``'s default event name."""
    return client.v1.billing.meter_events.create(
        params={
            "event_name": "api_calls",
            "payload": {"stripe_customer_id": customer, "value": value},
            **params,
        }
    )


def test_meter_shape_and_lifecycle(client: stripe.StripeClient) -> None:
    m = _meter(client)
    assert m.id.startswith("mtr_") and m.object == "billing.meter" and m.status == "active"
    assert m.default_aggregation.formula == "sum"
    assert m.customer_mapping.event_payload_key == "stripe_customer_id"
    with pytest.raises(stripe.InvalidRequestError, match="already exists"):
        _meter(client)
    off = client.v1.billing.meters.deactivate(m.id)
    assert off.status == "inactive" and off.status_transitions.deactivated_at is not None
    assert client.v1.billing.meters.reactivate(m.id).status == "active"
    assert [x.id for x in client.v1.billing.meters.list().data] == [m.id]


def test_meter_events_dedupe_and_time_window(client: stripe.StripeClient) -> None:
    _meter(client)
    cus = client.v1.customers.create(params={})
    now = int(time.time())
    ev = event(client, cus.id, "25", identifier="sub1:2024-01:1", timestamp=now - 60)
    assert ev.object == "billing.meter_event" and ev.identifier == "sub1:2024-01:1"
    assert ev.payload.to_dict() == {"stripe_customer_id": cus.id, "value": "25"}
    with pytest.raises(stripe.InvalidRequestError) as exc:
        event(client, cus.id, "25", identifier="sub1:2024-01:1")
    assert "already exists with identifier sub1:2024-01:1" in str(exc.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        event(client, cus.id, "1", timestamp=now - 36 * 86400)
    assert exc.value.code == "timestamp_too_far_in_past" and exc.value.param == "timestamp"
    with pytest.raises(stripe.InvalidRequestError) as exc:
        event(client, cus.id, "1", timestamp=now + 600)
    assert exc.value.code == "timestamp_in_future"
    # within the limits is fine
    event(client, cus.id, "1", timestamp=now - 34 * 86400)
    event(client, cus.id, "1", timestamp=now + 120)
    with pytest.raises(stripe.InvalidRequestError) as exc:
        client.v1.billing.meter_events.create(
            params={"event_name": "api_calls", "payload": {"value": "1"}}
        )
    assert exc.value.param == "payload[stripe_customer_id]"


def test_time_window_follows_the_customers_test_clock(client: stripe.StripeClient) -> None:
    _meter(client)
    frozen = 1_700_000_000
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": frozen})
    cus = client.v1.customers.create(params={"test_clock": clock.id})
    event(client, cus.id, "3", timestamp=frozen - 86400)
    with pytest.raises(stripe.InvalidRequestError):
        event(client, cus.id, "3", timestamp=frozen + 3600)


@pytest.mark.parametrize(
    ("formula", "expected", "per_day"),
    [("sum", 17, (5, 12)), ("count", 3, (1, 2)), ("last", 2, (5, 2))],
)
def test_event_summaries(
    client: stripe.StripeClient, formula: str, expected: int, per_day: tuple[int, int]
) -> None:
    m = _meter(client, formula)
    cus = client.v1.customers.create(params={})
    other = client.v1.customers.create(params={})
    day = (int(time.time()) // 86400 - 2) * 86400
    for offset, value, who in [(100, 5, cus), (90000, 10, cus), (90100, 2, cus), (200, 99, other)]:
        event(client, who.id, str(value), timestamp=day + offset)
    total = client.v1.billing.meters.event_summaries.list(
        m.id, params={"customer": cus.id, "start_time": day, "end_time": day + 2 * 86400}
    )
    assert len(total.data) == 1 and total.data[0].aggregated_value == expected
    assert total.data[0].object == "billing.meter_event_summary" and total.data[0].meter == m.id
    daily = client.v1.billing.meters.event_summaries.list(
        m.id,
        params={
            "customer": cus.id,
            "start_time": day,
            "end_time": day + 2 * 86400,
            "value_grouping_window": "day",
        },
    )
    by_start = {s.start_time: s.aggregated_value for s in daily.data}
    assert by_start == {day: per_day[0], day + 86400: per_day[1]}
    with pytest.raises(stripe.InvalidRequestError, match="aligned"):
        client.v1.billing.meters.event_summaries.list(
            m.id, params={"customer": cus.id, "start_time": day + 1, "end_time": day + 86400}
        )


def test_meter_event_adjustment_cancels_an_event(client: stripe.StripeClient) -> None:
    m = _meter(client)
    cus = client.v1.customers.create(params={})
    minute = int(time.time()) // 60 * 60
    for ident, value in (("a", "4"), ("b", "6")):
        event(client, cus.id, value, identifier=ident, timestamp=minute - 120)
    client.v1.billing.meter_event_adjustments.create(
        params={"event_name": "api_calls", "type": "cancel", "cancel": {"identifier": "a"}}
    )
    s = client.v1.billing.meters.event_summaries.list(
        m.id, params={"customer": cus.id, "start_time": minute - 600, "end_time": minute}
    )
    assert s.data[0].aggregated_value == 6
