"""The consumer usage API and the usage page: the current period's calls, units, quota
and cost (the pricing core over the ledger), the time series, and ownership (404)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from tests.support.actors import Actor
from tests.support.rows import World, insert_usage
from tollway.domain.subscriptions import Cause, SubState
from tollway.store import plans_repo, subscriptions_repo

from .conftest import Shop


def _subscription(ctx: Any, shop: Shop, consumer: Actor, plan_id: str) -> tuple[World, str]:
    app = consumer.post("/api/v1/applications", json={"name": f"app {plan_id}"}).json()
    with ctx.tx() as conn:  # a paid plan active (as after Checkout; that is the billing tests')
        sub = subscriptions_repo.create(
            conn,
            application_id=app["id"],
            api_id=shop.api["id"],
            plan_id=plan_id,
            consumer_id=consumer.id,
            state=SubState.ACTIVE,
            cause=Cause.USER,
            actor=consumer.id,
            now=ctx.clock.now(),
        )
        org = str(plans_repo.get_any(conn, plan_id)["organization_id"])
    return World(org, "", consumer.id, shop.api["id"], plan_id, app["id"]), str(sub["id"])


def test_usage_summary_series_and_page(
    ctx: Any, http: TestClient, shop: Shop, make_actor: Any
) -> None:
    ann, bob = make_actor("consumer"), make_actor("consumer")
    world, sub_id = _subscription(ctx, shop, ann, shop.payg["id"])
    with ctx.tx() as conn:
        start_ms = int(
            subscriptions_repo.get_any(conn, sub_id)["billing_anchor"].timestamp() * 1000
        )
    insert_usage(ctx.engine, world, sub_id, [start_ms + i for i in range(1500)])
    insert_usage(ctx.engine, world, sub_id, [start_ms + 2000 + i for i in range(10)], status=500)

    r = ann.get(f"/api/v1/usage/subscriptions/{sub_id}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["calls"] == 1510
    assert body["calls_by_status_class"] == {"2xx": 1500, "5xx": 10}
    units = int(float(body["meters"][0]["units"]))
    assert body["meters"][0]["meter"] == "requests" and units in (1500, 1510)
    assert Decimal(body["cost_so_far"]) == (units - 1000) * Decimal("0.002")  # 1,000 included
    assert body["rate_limit"] == {"count": 20, "per": "second"}
    assert body["projected_cost"] is None and body["projected_calls"] is None  # first day

    series = ann.get(f"/api/v1/usage/subscriptions/{sub_id}/series", params={"granularity": "hour"})
    assert series.status_code == 200, series.text
    points = series.json()["points"]
    assert sum(p["calls"].get("2xx", 0) for p in points) == 1500
    assert sum(p["calls"].get("5xx", 0) for p in points) == 10
    assert (
        ann.get(f"/api/v1/usage/subscriptions/{sub_id}/series?granularity=week").status_code == 422
    )
    assert ann.get(f"/api/v1/usage/subscriptions/{sub_id}/series?periods=99").status_code == 422

    total = ann.get("/api/v1/usage").json()
    assert [(t["currency"], t["calls"], t["cost_so_far"]) for t in total["totals"]] == [
        ("USD", 1510, body["cost_so_far"])
    ]
    assert total["totals"][0]["projected_cost"] is None  # not during the first day
    assert bob.get(f"/api/v1/usage/subscriptions/{sub_id}").status_code == 404
    assert bob.get("/api/v1/usage").json() == {"subscriptions": [], "totals": []}
    assert (
        "/api/v1/usage/subscriptions/{sub_id}/series"
        in http.get("/api/v1/openapi.json").json()["paths"]
    )

    http.cookies.set("tollway_session", ann.token)
    page = http.get(f"/portal/subscriptions/{sub_id}")
    assert page.status_code == 200
    assert 'data-usage="calls">1,510<' in page.text
    assert f'value="{body["cost_so_far"]}"' in page.text
    assert http.get(f"/portal/subscriptions/{sub_id}?granularity=hour").status_code == 200
    assert http.get(f"/portal/subscriptions/{sub_id}?granularity=year").status_code == 400
    billing = http.get("/portal/billing")
    assert billing.status_code == 200 and 'data-total="USD"' in billing.text
    http.cookies.set("tollway_session", bob.token)
    assert http.get(f"/portal/subscriptions/{sub_id}").status_code == 404


def test_cost_is_projected_to_the_period_end_after_the_first_day(
    ctx: Any, shop: Shop, make_actor: Any
) -> None:
    ann = make_actor("consumer")
    app = ann.post("/api/v1/applications", json={"name": "old"}).json()
    started = ctx.clock.now() - timedelta(days=3)
    with ctx.tx() as conn:
        sub = subscriptions_repo.create(
            conn,
            application_id=app["id"],
            api_id=shop.api["id"],
            plan_id=shop.payg["id"],
            consumer_id=ann.id,
            state=SubState.ACTIVE,
            cause=Cause.USER,
            actor=ann.id,
            now=started,
        )
        org = str(plans_repo.get_any(conn, shop.payg["id"])["organization_id"])
    world = World(org, "", ann.id, shop.api["id"], shop.payg["id"], app["id"])
    start_ms = int(started.timestamp() * 1000)
    insert_usage(ctx.engine, world, sub["id"], [start_ms + i for i in range(3000)])
    body = ann.get(f"/api/v1/usage/subscriptions/{sub['id']}").json()
    assert body["calls"] == 3000 and body["cost_so_far"] == "4.00"  # 2,000 x $0.002
    # about ten times the first three days over a month, never less than so far
    assert 25_000 < body["projected_calls"] < 35_000
    assert Decimal(body["projected_cost"]) > Decimal("4.00")
