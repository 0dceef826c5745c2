"""The invoice closing a trial on a plan that bills several meters: one $0.00 line per
meter (with the usage measured by each meter), then the first paid period's fee."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tests.support.rows import insert_usage, new_subscription, seed_world
from tollway.billing import change_estimate
from tollway.store import billing_repo, db, plans_repo

PRICING = {
    "flat_fee": "10.00",
    "usage": [
        {"meter": "requests", "model": "unit", "unit_amount": "0.002"},
        {"meter": "tokens", "model": "package", "unit_amount": "0.01", "package_size": 1000},
    ],
}
TOKENS = {"key": "tokens", "metric": {"aggregation": "sum", "field": "usage_value"}}


def test_closing_a_trial_rates_each_meter_at_zero(ctx: Any) -> None:
    w = seed_world(ctx.engine, PRICING)
    with db.transaction(ctx.engine) as conn:
        plans_repo.create_meter(conn, w.org_id, "tokens", TOKENS, datetime.now(UTC))
    sub_id = new_subscription(ctx.engine, w, state="active")
    start = int(time.time()) - 60
    insert_usage(ctx.engine, w, sub_id, [start * 1000 + i for i in range(3)])
    with db.reading(ctx.engine) as conn:
        sub = billing_repo.load_sub(conn, sub_id)
        out = change_estimate.closing_trial(conn, sub, start, start + 7 * 86_400)
    assert out["usage_by_meter"] == {"requests": 3, "tokens": 0}
    usage = [(ln["meter"], ln["amount"]) for ln in out["lines"] if ln["meter"]]
    assert usage == [("requests", "0.00"), ("tokens", "0.00")]
    assert out["total"] == "10.00"  # the first paid month's fee, in advance
