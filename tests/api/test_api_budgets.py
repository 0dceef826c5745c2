"""Consumer budgets through the REST API: set, read, change, remove; amounts validated at
the field; plans whose usage is not priced per call refused; another consumer's
subscription is a 404; every change reaches the gateway (config version)."""

from __future__ import annotations

from typing import Any

from tests.support.catalog import Catalog
from tests.support.rows import World, insert_usage, new_subscription
from tollway.store import changes

UNIT = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}}
GRADUATED = {
    "usage": {
        "meter": "requests",
        "model": "graduated",
        "tiers": [{"up_to": 3, "unit_amount": "0.05"}, {"up_to": None, "unit_amount": "0.01"}],
    }
}


def _world(ctx: Any, cat: Catalog, pub: Any, con: Any, pricing: dict[str, Any]) -> World:
    api = cat.api(pub, "books")
    plan = cat.plan(pub, "Metered", pricing, api_id=api["id"])
    app = cat.app(con)
    return World(plan["organization_id"], "", con.id, api["id"], plan["id"], app["id"])


def test_a_consumer_sets_reads_changes_and_removes_a_budget(
    ctx: Any, cat: Catalog, make_actor: Any
) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    w = _world(ctx, cat, pub, con, GRADUATED)
    sub = new_subscription(ctx.engine, w, state="active")
    with ctx.engine.connect() as c:
        before = changes.current(c)
    insert_usage(ctx.engine, w, sub, [int(ctx.clock.now().timestamp() * 1000)] * 4)

    r = con.get(f"/api/v1/subscriptions/{sub}/budget")
    assert r.status_code == 200, r.text
    assert (r.json()["amount"], r.json()["calls"], r.json()["spent"]) == (None, 4, "0.16")

    r = con.put(f"/api/v1/subscriptions/{sub}/budget", json={"amount": "0.30"})
    assert r.status_code == 200, r.text
    body = r.json()
    # 3 x 0.05 + 15 x 0.01 = 0.30: eighteen calls fit, the 19th would not
    assert (body["amount"], body["currency"], body["calls_allowed"]) == ("0.30", "USD", 18)
    assert (body["spent"], body["remaining"], body["set_by"]) == ("0.16", "0.14", con.id)
    with ctx.engine.connect() as c:
        assert changes.current(c) > before  # gateways reload

    r = pub.put(f"/api/v1/subscriptions/{sub}/budget", json={"amount": "1"})
    assert r.status_code == 200, r.text  # the API's publisher may set it too
    assert (r.json()["amount"], r.json()["calls_allowed"]) == ("1.00", 88)
    assert con.get(f"/api/v1/subscriptions/{sub}/budget").json()["set_by"] == pub.id

    r = con.delete(f"/api/v1/subscriptions/{sub}/budget")
    assert r.status_code == 200, r.text
    assert (r.json()["amount"], r.json()["remaining"]) == (None, None)


def test_bad_amounts_are_refused_at_the_field(ctx: Any, cat: Catalog, make_actor: Any) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    sub = new_subscription(ctx.engine, _world(ctx, cat, pub, con, UNIT), state="active")
    for amount, words in [
        ("0", "greater than zero"),
        ("-5", "greater than zero"),
        ("ten", "not a decimal"),
        ("0.001", "at most 2 decimal places"),
        ("NaN", "greater than zero"),
        ("1e20", "at most"),
    ]:
        r = con.put(f"/api/v1/subscriptions/{sub}/budget", json={"amount": amount})
        assert r.status_code == 422, (amount, r.text)
        problem = r.json()
        assert problem["errors"][0]["loc"] == ["amount"], problem
        assert words in problem["errors"][0]["message"], (amount, problem)
    r = con.put(f"/api/v1/subscriptions/{sub}/budget", json={"amount": 5})
    assert r.status_code == 422, r.text
    r = con.put(f"/api/v1/subscriptions/{sub}/budget", json={"amount": "5", "bogus": 1})
    assert r.status_code == 422, r.text
    assert con.get(f"/api/v1/subscriptions/{sub}/budget").json()["amount"] is None


def test_a_plan_without_a_per_call_price_takes_no_budget(
    ctx: Any, cat: Catalog, make_actor: Any
) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    sub = new_subscription(
        ctx.engine, _world(ctx, cat, pub, con, {"flat_fee": "10.00"}), state="active"
    )
    r = con.put(f"/api/v1/subscriptions/{sub}/budget", json={"amount": "5.00"})
    assert r.status_code == 409, r.text
    assert "no usage price" in r.json()["detail"]


def test_another_consumers_subscription_is_not_found(
    ctx: Any, cat: Catalog, make_actor: Any
) -> None:
    pub, con, other = make_actor("publisher"), make_actor("consumer"), make_actor("consumer")
    sub = new_subscription(ctx.engine, _world(ctx, cat, pub, con, UNIT), state="active")
    for method in ("get", "delete"):
        assert getattr(other, method)(f"/api/v1/subscriptions/{sub}/budget").status_code == 404
    r = other.put(f"/api/v1/subscriptions/{sub}/budget", json={"amount": "5.00"})
    assert r.status_code == 404, r.text
    assert con.get(f"/api/v1/subscriptions/{sub}/budget").json()["amount"] is None
