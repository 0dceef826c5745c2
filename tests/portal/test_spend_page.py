"""Spend controls in the portal: a consumer sets, changes and removes a budget and adds
and removes alerts, with errors next to the field; the numbers equal the REST API's;
a prepaid subscription shows its balance, packs and ledger instead; another consumer's
subscription is a 404 page."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from tests.support.rows import World, insert_usage, new_subscription

from .conftest import post_form, sign_up

UNIT = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}}


def test_budget_and_alerts_on_the_spend_page(ctx: Any, http: TestClient, make_actor: Any) -> None:
    w_pub = make_actor("publisher")
    api = w_pub.post(
        "/api/v1/apis", json={"name": "Books", "context": "books", "version": "v1"}
    ).json()
    plan = w_pub.post(
        "/api/v1/plans", json={"name": "Metered", "currency": "USD", "pricing": UNIT}
    ).json()
    me = sign_up(http, "cleo")
    app = post_form(http, "/portal/apps", "/portal/apps", {"name": "Shelf"})
    app_id = app.headers["location"].rsplit("/", 1)[1]
    w = World(plan["organization_id"], "", me, api["id"], plan["id"], app_id)
    sub = new_subscription(ctx.engine, w, state="active")
    insert_usage(ctx.engine, w, sub, [int(time.time() * 1000)] * 3)
    page = f"/portal/subscriptions/{sub}/spend"

    html = http.get(page).text
    assert "Set budget" in html and 'data-testid="budget-spent">0.06 USD' in html

    bad = post_form(http, page, f"/portal/subscriptions/{sub}/budget", {"amount": "0.001"})
    assert bad.status_code == 422 and "at most 2 decimal places" in bad.text
    assert 'id="f-amount-error"' in bad.text

    ok = post_form(http, page, f"/portal/subscriptions/{sub}/budget", {"amount": "0.10"})
    assert ok.status_code == 303
    html = http.get(page).text
    assert 'data-testid="budget-amount">0.10 USD' in html
    assert 'data-testid="budget-remaining">0.04 USD (5 calls per period in all)' in html
    api_view = http.get(f"/api/v1/subscriptions/{sub}/budget").json()
    assert (api_view["amount"], api_view["remaining"], api_view["calls_allowed"]) == (
        "0.10",
        "0.04",
        5,
    )

    bad = post_form(
        http,
        page,
        f"/portal/subscriptions/{sub}/alerts",
        {"metric": "budget", "thresholds": "fifty"},
    )
    assert bad.status_code == 422 and "whole percents" in bad.text
    ok = post_form(
        http,
        page,
        f"/portal/subscriptions/{sub}/alerts",
        {"metric": "budget", "thresholds": "80, 50%"},
    )
    assert ok.status_code == 303
    html = http.get(page).text
    assert "50 %, 80 %" in html and "not yet" in html
    [alert] = http.get(f"/api/v1/subscriptions/{sub}/alerts").json()
    removed = post_form(http, page, f"/portal/subscriptions/{sub}/alerts/{alert['id']}/delete", {})
    assert (
        removed.status_code == 303 and http.get(f"/api/v1/subscriptions/{sub}/alerts").json() == []
    )

    gone = post_form(http, page, f"/portal/subscriptions/{sub}/budget/remove", {})
    assert gone.status_code == 303
    assert http.get(f"/api/v1/subscriptions/{sub}/budget").json()["amount"] is None

    sign_up(http, "dora")
    assert http.get(page).status_code == 404


def test_a_prepaid_subscription_shows_its_credit(
    ctx: Any, http: TestClient, make_actor: Any
) -> None:
    pub = make_actor("publisher")
    api = pub.post(
        "/api/v1/apis", json={"name": "Books", "context": "books", "version": "v1"}
    ).json()
    plan = pub.post(
        "/api/v1/plans", json={"name": "Prepaid", "currency": "USD", "pricing": UNIT}
    ).json()
    assert pub.put(
        f"/api/v1/plans/{plan['id']}/prepaid", json={"packs": ["5.00", "20.00"]}
    ).is_success
    me = sign_up(http, "emil")
    app = post_form(http, "/portal/apps", "/portal/apps", {"name": "Shelf"})
    app_id = app.headers["location"].rsplit("/", 1)[1]
    w = World(plan["organization_id"], "", me, api["id"], plan["id"], app_id)
    sub = new_subscription(ctx.engine, w, state="active")
    from tollway.store import credits_repo

    with ctx.engine.begin() as conn:
        credits_repo.open_account(conn, sub, "USD", ctx.clock.now())
    html = http.get(f"/portal/subscriptions/{sub}/spend").text
    assert 'data-testid="credit-balance"><strong>0.00 USD' in html
    assert "5.00 USD" in html and "20.00 USD" in html and "Buy a credit pack first" in html
    assert "Set budget" not in html
    refused = post_form(
        http,
        f"/portal/subscriptions/{sub}/spend",
        f"/portal/subscriptions/{sub}/credits/buy",
        {"pack": "5.00"},
    )
    assert refused.status_code == 422 and "not connected Stripe" in refused.text
