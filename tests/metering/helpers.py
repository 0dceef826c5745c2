"""Shared helpers for the metering tests."""

from __future__ import annotations

from decimal import Decimal

from tollway.metering.events import UsageEvent

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def ev(i: int = 0, **kw: object) -> UsageEvent:
    base: dict[str, object] = {
        "event_id": f"ue_{i:08d}",
        "timestamp_ms": T0 + i,
        "organization_id": "org_1",
        "api_id": "api_1",
        "operation_id": "op_get",
        "method": "GET",
        "status": 200,
        "latency_ms": 10,
        "request_bytes": 100,
        "response_bytes": 1000,
        "application_id": "app_1",
        "subscription_id": "sub_1",
        "credential_id": "key_1",
        "consumer_id": "user_1",
        "environment": "production",
        "usage_value": None,
    }
    base.update(kw)
    if isinstance(base["usage_value"], int | str):
        base["usage_value"] = Decimal(str(base["usage_value"]))
    return UsageEvent(**base)  # type: ignore[arg-type]
