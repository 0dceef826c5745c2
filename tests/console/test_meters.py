"""Meters in the console: test a definition on the latest ledger events, errors at
the field, create one."""

from __future__ import annotations

import time
from typing import Any

from tests.support.rows import insert_usage, new_subscription, seed_world

PRICING = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"}}


def test_test_the_meter_then_create_it(ctx: Any, make_actor: Any, browser_for: Any) -> None:
    pub = make_actor("publisher")
    world = seed_world(ctx.engine, PRICING)
    sub_id = new_subscription(ctx.engine, world, state="active")
    now_ms = int(time.time() * 1000)
    insert_usage(ctx.engine, world, sub_id, [now_ms + 1, now_ms + 2, now_ms + 3])
    insert_usage(ctx.engine, world, sub_id, [now_ms + 4, now_ms + 5], status=503)
    browser = browser_for(pub.email)
    browser.get("/console/meters")
    form = {"key": "server-errors", "aggregation": "count", "status": "5", "action": "test"}
    tried = browser.post("/console/meters", form)
    assert tried.status_code == 200, tried.text
    assert 'data-testid="trial-matched">2<' in tried.text
    summed = browser.post(
        "/console/meters",
        {"key": "bytes", "aggregation": "sum", "field": "response_bytes", "action": "test"},
    )
    assert 'data-testid="trial-value">300<' in summed.text  # 3 successful calls x 100 bytes
    wrong = browser.post("/console/meters", {"key": "bad", "aggregation": "sum", "action": "test"})
    assert wrong.status_code == 422
    assert 'id="f-metric-field-error"' in wrong.text or "field" in wrong.text.lower()
    created = browser.post("/console/meters", {"key": "server-errors", "status": "5"})
    assert created.status_code == 303
    assert "Meter “server-errors” created." in browser.get("/console/meters").text
    again = browser.post("/console/meters", {"key": "server-errors", "status": "5"})
    assert again.status_code == 422 and "already exists" in again.text
