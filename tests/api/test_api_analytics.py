"""The publisher analytics API: who sees what (publisher, another organization, consumer,
admin), the figures on a ledger made for the test, revenue from Tollway's estimate, and
refused arguments as problem+json located at the field."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.support import rows
from tests.support.catalog import Catalog

UNIT = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"}}


@pytest.fixture
def world(ctx: Any, cat: Catalog, make_actor: Any) -> dict[str, Any]:
    """Organization A: a publisher's API with a unit-priced plan and an active subscriber
    with 12 calls (3 of them 404s) just now; organization B: a publisher with 5 calls."""
    pub = make_actor("publisher")
    api = cat.api(pub, "books")
    plan = cat.plan(pub, "Per call", UNIT, api_id=api["id"])
    con = make_actor("consumer")
    app = cat.app(con)
    org_a = pub.get("/api/v1/users/me").json()["organization_id"]
    w = rows.World(org_a, "", con.id, api["id"], plan["id"], app["id"])
    sub = rows.new_subscription(ctx.engine, w, state="active")
    now_ms = int(time.time() * 1000)
    rows.insert_usage(ctx.engine, w, sub, [now_ms + i for i in range(1, 10)])
    rows.insert_usage(ctx.engine, w, sub, [now_ms + i for i in range(10, 13)], status=404)
    org_b = cat.org("other")
    pub_b = make_actor("publisher", org_b)
    api_b = cat.api(pub_b, "maps")
    plan_b = cat.plan(pub_b, "Free", api_id=api_b["id"])
    wb = rows.World(org_b, "", con.id, api_b["id"], plan_b["id"], app["id"])
    sub_b = rows.new_subscription(ctx.engine, wb, state="active")
    rows.insert_usage(ctx.engine, wb, sub_b, [now_ms + i for i in range(1, 6)])
    return {"pub": pub, "pub_b": pub_b, "con": con, "api": api, "plan": plan, "sub": sub}


def _range(days: int = 1) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "from": (now - timedelta(days=days)).isoformat(),
        "to": (now + timedelta(days=days)).isoformat(),
    }


def test_a_publisher_sees_their_calls_per_api(world: dict[str, Any]) -> None:
    r = world["pub"].get("/api/v1/analytics/usage", params={**_range(), "group_by": "api"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["totals"]["calls"] == 12
    assert body["totals"]["errors_4xx"] == 3 and body["totals"]["errors_5xx"] == 0
    assert body["totals"]["latency_avg_ms"] == "5.0" and body["totals"]["latency_max_ms"] == 5
    [group] = body["groups"]
    assert (group["key"], group["label"]) == (world["api"]["id"], "Books")
    assert sum(p["calls"] for p in group["points"]) == 12
    assert len(body["buckets"]) in (3, 4)  # the days [now - 1 day, now + 1 day) touches


def test_plans_and_top_consumers(world: dict[str, Any]) -> None:
    pub = world["pub"]
    by_plan = pub.get("/api/v1/analytics/usage", params={**_range(), "group_by": "plan"}).json()
    assert [(g["label"], g["totals"]["calls"]) for g in by_plan["groups"]] == [("Per call", 12)]
    top = pub.get("/api/v1/analytics/top-consumers", params=_range()).json()
    assert [(c["email"], c["calls"], c["errors_4xx"]) for c in top["consumers"]] == [
        (world["con"].email, 12, 3)
    ]


def test_revenue_is_tollways_estimate_without_stripe(world: dict[str, Any]) -> None:
    r = world["pub"].get("/api/v1/analytics/revenue", params={**_range(), "granularity": "month"})
    assert r.status_code == 200, r.text
    [row] = r.json()["rows"]
    assert row["source"] == "tollway_estimate"
    assert (row["api_name"], row["plan_name"], row["currency"]) == ("Books", "Per call", "USD")
    assert Decimal(row["amount"]) == Decimal("0.09")  # 9 successful calls at 0.01
    assert [Decimal(t["amount"]) for t in r.json()["totals"]] == [Decimal("0.09")]


def test_another_organization_sees_nothing_of_it(world: dict[str, Any]) -> None:
    pub_b = world["pub_b"]
    body = pub_b.get("/api/v1/analytics/usage", params=_range()).json()
    assert body["totals"]["calls"] == 5
    for path in ("usage", "top-consumers", "revenue"):
        r = pub_b.get(f"/api/v1/analytics/{path}", params={"api_id": world["api"]["id"]})
        assert r.status_code == 404, r.text
    r = pub_b.get("/api/v1/analytics/usage", params={"plan_id": world["plan"]["id"]})
    assert r.status_code == 404
    org_a = world["pub"].get("/api/v1/users/me").json()["organization_id"]
    r = pub_b.get("/api/v1/analytics/usage", params={"organization_id": org_a})
    assert r.status_code == 404


def test_consumers_are_refused(world: dict[str, Any]) -> None:
    for path in ("usage", "top-consumers", "revenue"):
        r = world["con"].get(f"/api/v1/analytics/{path}")
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")


def test_an_admin_sees_every_organization_or_one(world: dict[str, Any], admin: Any) -> None:
    everyone = admin.get("/api/v1/analytics/usage", params=_range()).json()
    assert everyone["totals"]["calls"] == 17
    org_b = world["pub_b"].get("/api/v1/users/me").json()["organization_id"]
    one = admin.get("/api/v1/analytics/usage", params={**_range(), "organization_id": org_b})
    assert one.json()["totals"]["calls"] == 5


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}, ["query", "to"]),
        ({"from": "2026-02-02T00:00:00Z", "to": "2026-02-01T00:00:00Z"}, ["query", "to"]),
        (
            {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "granularity": "hour"},
            ["query", "granularity"],
        ),
        ({"group_by": "colour"}, ["query", "group_by"]),
        ({"granularity": "week"}, ["query", "granularity"]),
        ({"from": "yesterday"}, ["query", "from"]),
    ],
)
def test_bad_arguments_are_422_at_the_field(
    world: dict[str, Any], params: dict[str, str], loc: list[str]
) -> None:
    r = world["pub"].get("/api/v1/analytics/usage", params=params)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["loc"] for e in r.json()["errors"]] == [loc]


def test_top_consumers_limit_is_bounded(world: dict[str, Any]) -> None:
    r = world["pub"].get("/api/v1/analytics/top-consumers", params={"limit": 0})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", "limit"]
