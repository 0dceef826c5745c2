"""Several metered prices on one plan, end to end (REST API, a real ``tollway gateway``,
the emulator): an "AI API" plan bills requests at $0.002 a call and tokens at $0.01 per
started 1,000 (a package price: Stripe's ``transform_quantity`` divide_by 1,000, round
up), the tokens read from the upstream's ``X-Tokens`` response header.

26 calls: one of 0 tokens (waiting for the gateway), 24 of 5,000 and one of 3,456:
123,456 tokens -> 124 packages = $1.24; 26 requests x $0.002 = $0.052 -> $0.05;
**$1.29** — Tollway's estimate (one line per meter),
Stripe's preview, and the invoice the emulator charges when the period closes (one line
per meter). docs/pricing.md has the same example."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import stripe
from sqlalchemy import select

from stripe_emulator.testing import Emulator
from tests.support.servers import serve_handler
from tests.support.waiting import wait_until
from tollway.domain.clock import FixedClock
from tollway.store.billing_tables import billing_plan_meters, usage_push_windows
from tollway.workers.reconcile import reconcile

from .published import (
    advance,
    connect_stripe,
    metered,
    publish_api,
    publish_usage,
    subscribe_and_pay,
)

pytestmark = pytest.mark.usefixtures("immediate_meter_events", "immediate_invoice_finalization")

TOKENS_METER = {
    "key": "tokens",
    "name": "Tokens",
    "metric": {"aggregation": "sum", "field": "usage_value"},
}
AI_PLAN: dict[str, Any] = {
    "name": "AI",
    "currency": "USD",
    "billing_interval": "month",
    "pricing": {
        "usage": [
            {"meter": "requests", "model": "unit", "unit_amount": "0.002"},
            {"meter": "tokens", "model": "package", "unit_amount": "0.01", "package_size": 1000},
        ]
    },
}
CALLS = [5000] * 24 + [3456]  # tokens per call: 123,456 in all


class _Completions(BaseHTTPRequestHandler):
    """An upstream that says how many tokens a call used (``?tokens=n``) in a header."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        tokens = parse_qs(urlparse(self.path).query).get("tokens", ["0"])[0]
        body = b'{"choices": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Tokens", tokens)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def ai_upstream() -> Iterator[str]:
    with serve_handler(_Completions) as port:
        yield f"http://127.0.0.1:{port}"


def test_requests_and_tokens_on_one_invoice(
    ctx: Any,
    emu: Emulator,
    served: str,
    admin: Any,
    make_actor: Any,
    http: Any,
    ai_upstream: str,
    gateway: str,
    stripe_client: stripe.StripeClient,
) -> None:
    connect_stripe(admin, emu, stripe_client, served)
    pub = make_actor("publisher")
    r = pub.post("/api/v1/plans", json=AI_PLAN)
    assert r.status_code == 422, r.text  # no "tokens" meter yet
    assert r.json()["errors"][0]["loc"] == ["pricing", "usage", 1, "meter"], r.text
    r = pub.post("/api/v1/meters", json={"definition": TOKENS_METER})
    assert r.status_code == 201, r.text
    requests_price = AI_PLAN["pricing"]["usage"][0]
    r = pub.post("/api/v1/plans", json={**AI_PLAN, "pricing": {"usage": [requests_price] * 2}})
    assert r.status_code == 422 and "priced twice" in r.text, r.text
    simple = {**AI_PLAN, "name": "Requests", "pricing": {"usage": requests_price}}
    api_id, (plan, other) = publish_api(pub, ai_upstream, "ai", [AI_PLAN, simple])
    r = pub.patch(f"/api/v1/apis/{api_id}", json={"usage_header": "X-Tokens"})
    assert r.status_code == 200, r.text
    got = pub.get(f"/api/v1/plans/{plan}").json()["pricing"]["usage"]
    assert [u["meter"] for u in got] == ["requests", "tokens"]

    c = subscribe_and_pay(ctx, http, admin, stripe_client, api_id, plan, int(time.time()))
    item_prices = stripe_client.v1.subscriptions.list(params={"customer": c.customer}).data[0]
    metered_items = [i.price for i in item_prices["items"].data]
    assert len(metered_items) == 2  # one metered item per meter, each on its own meter
    assert len({p.recurring.meter for p in metered_items if p.recurring}) == 2
    with ctx.engine.connect() as conn:
        keys = conn.execute(
            select(billing_plan_meters.c.plan_id, billing_plan_meters.c.meter_key)
        ).fetchall()
    assert set(keys) == {(other, "requests"), (plan, "requests"), (plan, "tokens")}

    r = http.post(
        f"/api/v1/subscriptions/{c.sub_id}/plan-change", json={"plan_id": other}, headers=c.auth
    )
    assert r.status_code == 409 and "several meters" in r.text, r.text

    url, key = f"{gateway}/ai/v1/books", {"apikey": c.key}
    ready = {"tokens": 0}  # a request, no tokens
    wait_until(lambda: httpx.get(url, params=ready, headers=key).status_code == 200, 30, "gw")
    for n in CALLS:
        assert httpx.get(url, params={"tokens": n}, headers=key).status_code == 200
    wait_until(lambda: metered(ctx, c.sub_id) == 26, 30, "the calls to reach the ledger")

    publish_usage(admin)
    publish_usage(admin)  # a second run pushes nothing again
    with ctx.engine.connect() as conn:
        pushed = conn.execute(
            select(usage_push_windows.c.meter_key, usage_push_windows.c.value)
        ).fetchall()
    by_meter: dict[str, int] = {}
    for meter_key, value in pushed:
        by_meter[meter_key] = by_meter.get(meter_key, 0) + int(value)
    assert by_meter == {"requests": 26, "tokens": 123_456}

    # reconciliation compares each meter with its own Stripe meter (windows closed, settled)
    later = FixedClock(datetime.now(UTC) + timedelta(minutes=2))
    compared = reconcile(ctx.engine, ctx.billing.engines, clock=later, lag_s=0)
    assert sorted((ln.meter_key, ln.ledger, ln.stripe) for ln in compared) == [
        ("requests", 26, 26),
        ("tokens", 123_456, 123_456),
    ]

    up = http.get(f"/api/v1/billing/upcoming?subscription_id={c.sub_id}", headers=c.auth).json()
    ours = up["tollway_estimate"]
    assert ours["usage_by_meter"] == {"requests": 26, "tokens": 123_456}
    assert [(ln["meter"], ln["amount"]) for ln in ours["lines"]] == [
        ("requests", "0.05"),
        ("tokens", "1.24"),
    ]
    assert ours["total"] == "1.29" and up["stripe"]["total"] == "1.29" and up["agrees"] is True

    sub = stripe_client.v1.subscriptions.list(params={"customer": c.customer}).data[0]
    advance(stripe_client, c.clock, sub["items"].data[0].current_period_end + 60)
    invoices = http.get("/api/v1/billing/invoices", headers=c.auth).json()["data"]
    closing = [i for i in invoices if i["period_end"] == up["period_end"]]
    assert closing and closing[0]["status"] == "paid", invoices
    lines = sorted((ln["quantity"], ln["amount_minor"]) for ln in closing[0]["lines"])
    assert lines == [(26, 5), (123_456, 124)]  # one line per meter
    assert closing[0]["total_minor"] == ours["total_minor"] == 129
