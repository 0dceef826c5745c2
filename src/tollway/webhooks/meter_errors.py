"""Stripe's meter error reports: usage Stripe accepted but could not count.

Meter events are validated asynchronously; an event whose customer does not exist, whose
meter is archived or unknown, or whose value is invalid is dropped and reported later as
a ``v1.billing.meter.error_report_triggered`` (or ``v1.billing.meter.no_meter_found``)
thin event. Its data (error counts per code and sample errors naming the meter event
``identifier``) is read from the event itself or fetched from Stripe
(``GET /v2/core/events/{id}``). Tollway marks the usage windows the samples name as
``failed`` (with Stripe's message, so an operator sees which windows are not billed) and
keeps the last reports for the publish-usage status.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from tollway.store import usage_push_repo
from tollway.store.db import writing

METER_ERROR_EVENTS = frozenset(
    {"v1.billing.meter.error_report_triggered", "v1.billing.meter.no_meter_found"}
)


def summarize(event: dict[str, Any], data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The report as kept for the publish-usage status."""
    reason = data.get("reason") or {}
    types: list[dict[str, Any]] = [
        {"code": str(t.get("code")), "error_count": int(t.get("error_count") or 0)}
        for t in reason.get("error_types") or []
    ]
    return {
        "event_id": str(event.get("id")),
        "type": str(event.get("type")),
        "meter_id": (event.get("related_object") or {}).get("id"),
        "error_count": int(reason.get("error_count") or sum(int(t["error_count"]) for t in types)),
        "error_types": types,
        "summary": str(data.get("developer_message_summary") or ""),
        "validation_start": data.get("validation_start"),
        "validation_end": data.get("validation_end"),
        "received_at": now.isoformat(),
    }


def samples(data: dict[str, Any]) -> dict[str, str]:
    """Meter event identifier -> "code: message" for every sample error."""
    out: dict[str, str] = {}
    for t in (data.get("reason") or {}).get("error_types") or []:
        for sample in t.get("sample_errors") or []:
            ident = ((sample.get("request") or {}).get("identifier")) or ""
            if ident:
                out[str(ident)] = f"{t.get('code')}: {sample.get('error_message') or ''}"[:500]
    return out


def apply_meter_error(
    db: Engine,
    event: dict[str, Any],
    fetch: Callable[[str], dict[str, Any]],
    now: datetime,
) -> str:
    data = event.get("data") or fetch(str(event["id"]))
    report = summarize(event, data, now)
    failed = samples(data)
    with writing(db) as conn:
        marked = usage_push_repo.mark_failed(conn, failed)
        usage_push_repo.record_meter_error(conn, report)
    codes = ", ".join(f"{t['code']} x{t['error_count']}" for t in report["error_types"])
    return f"meter errors ({codes or 'none listed'}): {marked} usage window(s) marked failed"
