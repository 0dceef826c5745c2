"""Subscribers in the console: this period's calls from the ledger and the estimate,
the state history, block and unblock with a reason, another org's subscription."""

from __future__ import annotations

import time
from typing import Any

from tests.support.rows import insert_usage, new_subscription, seed_world

PRICING = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"}}


def test_list_detail_block_and_unblock(
    ctx: Any, make_actor: Any, browser_for: Any, admin: Any
) -> None:
    pub = make_actor("publisher")
    world = seed_world(ctx.engine, PRICING)
    sub_id = new_subscription(ctx.engine, world, state="active")
    now_ms = int(time.time() * 1000)
    insert_usage(ctx.engine, world, sub_id, [now_ms + 1, now_ms + 2, now_ms + 3])
    insert_usage(ctx.engine, world, sub_id, [now_ms + 4], status=500)  # not billed
    browser = browser_for(pub.email)
    listing = browser.get("/console/subscribers")
    assert listing.status_code == 200
    assert f"/console/subscribers/{sub_id}" in listing.text
    assert '<td data-label="Calls this period" class="num">3</td>' in listing.text
    assert "$0.03" in listing.text
    detail = browser.get(f"/console/subscribers/{sub_id}")
    assert 'data-testid="period-calls">3<' in detail.text
    assert "The application has no API keys." in detail.text
    assert "Not billed through Stripe" in detail.text
    empty = browser.post(f"/console/subscribers/{sub_id}/block", {"reason": ""})
    assert empty.status_code == 422 and "This field is required." in empty.text
    blocked = browser.post(f"/console/subscribers/{sub_id}/block", {"reason": "abuse report"})
    assert blocked.status_code == 303
    page = browser.get(f"/console/subscribers/{sub_id}")
    assert "The subscription is blocked." in page.text and "abuse report" in page.text
    browser.post(f"/console/subscribers/{sub_id}/unblock", {"reason": "resolved"})
    assert "The subscription is active." in browser.get(f"/console/subscribers/{sub_id}").text
    org = admin.post("/api/v1/organizations", json={"name": "B", "slug": "b-org"}).json()
    stranger = browser_for(make_actor("publisher", org["id"]).email)
    assert stranger.get(f"/console/subscribers/{sub_id}").status_code == 404
    assert sub_id not in stranger.get("/console/subscribers").text
