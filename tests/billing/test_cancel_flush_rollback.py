"""A cancel that fails at Stripe rolls back, but the usage pushed before it must stay
recorded: later calls in the same window are billed, Stripe and Tollway agree."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.support.rows import insert_usage, seed_world
from tollway.billing.errors import RetryableProviderError
from tollway.billing.stripe.engine import StripeBillingEngine

from .helpers import pay_checkout, store_keys

PAYG = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "1.00"}}


# Stripe processes meter events asynchronously; these tests read usage back at once.
pytestmark = pytest.mark.usefixtures("immediate_meter_events")


def test_failed_cancel_does_not_orphan_pushed_usage(
    ctx: Any, emu: Any, admin: Any, make_actor: Any, http: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = seed_world(ctx.engine, PAYG)
    store_keys(ctx, w, emu)
    consumer = make_actor("consumer")
    app = consumer.post("/api/v1/applications", json={"name": "a"}).json()["id"]
    sub = consumer.post(
        "/api/v1/subscriptions",
        json={"application_id": app, "api_id": w.api_id, "plan_id": w.plan_id},
    ).json()
    paid = pay_checkout(sub["checkout_url"])
    loc = urlparse(paid.headers["location"])
    assert http.get(f"{loc.path}?{loc.query}").status_code == 200
    ts = int(time.time() * 1000)
    insert_usage(ctx.engine, w, sub["id"], [ts] * 10)  # 10 calls in the current window

    def stripe_down(self: Any, sid: str) -> None:
        raise RetryableProviderError("Stripe answered 503")

    monkeypatch.setattr(StripeBillingEngine, "cancel_subscription", stripe_down)
    r = consumer.post(f"/api/v1/subscriptions/{sub['id']}/cancel", json={})
    assert r.status_code >= 500
    assert consumer.get(f"/api/v1/subscriptions/{sub['id']}").json()["state"] == "active"
    monkeypatch.undo()

    insert_usage(ctx.engine, w, sub["id"], [ts] * 5)  # 5 more calls, same window
    ctx.billing.usage.flush()
    up = consumer.get(f"/api/v1/billing/upcoming?subscription_id={sub['id']}").json()
    assert up["tollway_estimate"]["usage_quantity"] == 15
    assert up["stripe"]["total"] == up["tollway_estimate"]["total"] == "15.00"
    assert up["agrees"] is True
