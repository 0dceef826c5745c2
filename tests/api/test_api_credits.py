"""Prepaid plans through the REST API: what a prepaid plan may be, packs validated at the
field, a prepaid subscription is active at once with a zero balance and takes no budget,
another consumer's credit is a 404."""

from __future__ import annotations

from typing import Any

from tests.support.catalog import Catalog

UNIT = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.25"}}


def _plan(pub: Any, pricing: dict[str, Any], name: str = "P") -> str:
    r = pub.post("/api/v1/plans", json={"name": name, "currency": "USD", "pricing": pricing})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_what_a_prepaid_plan_may_be(ctx: Any, make_actor: Any) -> None:
    pub = make_actor("publisher")
    hybrid = _plan(pub, {**UNIT, "flat_fee": "5.00"})
    r = pub.put(f"/api/v1/plans/{hybrid}/prepaid", json={"packs": ["10.00"]})
    assert r.status_code == 409 and "flat fee" in r.json()["detail"], r.text
    quota = pub.post(
        "/api/v1/plans",
        json={
            "name": "Q",
            "currency": "USD",
            "pricing": UNIT,
            "quota": {"limit": 5, "mode": "hard"},
        },
    ).json()["id"]
    r = pub.put(f"/api/v1/plans/{quota}/prepaid", json={"packs": ["10.00"]})
    assert r.status_code == 409 and "quota" in r.json()["detail"], r.text
    plan = _plan(pub, UNIT, "Prepaid")
    for packs, loc in ([[], ["packs"]], [["10.00", "0.001"], ["packs", 1]], [["-1"], ["packs", 0]]):
        r = pub.put(f"/api/v1/plans/{plan}/prepaid", json={"packs": packs})
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == loc, (packs, r.text)
    consumer = make_actor("consumer")
    r = consumer.put(f"/api/v1/plans/{plan}/prepaid", json={"packs": ["10.00"]})
    assert r.status_code == 403, r.text


def test_a_prepaid_subscription_starts_active_at_zero(
    ctx: Any, cat: Catalog, make_actor: Any
) -> None:
    pub, con, other = make_actor("publisher"), make_actor("consumer"), make_actor("consumer")
    api = cat.api(pub, "books")
    plan = _plan(pub, UNIT)
    assert pub.put(f"/api/v1/plans/{plan}/prepaid", json={"packs": ["10.00"]}).is_success
    assert pub.put(f"/api/v1/apis/{api['id']}/plans/{plan}", json={"enabled": True}).is_success
    r = cat.subscribe(con, cat.app(con)["id"], api["id"], plan)
    assert r.status_code == 201 and r.json()["state"] == "active", r.text
    sub = r.json()["id"]
    credits = con.get(f"/api/v1/subscriptions/{sub}/credits").json()
    assert (credits["credited"], credits["balance"], credits["entries"]) == ("0.00", "0.00", [])
    assert credits["packs"] == ["10.00"]
    r = con.put(f"/api/v1/subscriptions/{sub}/budget", json={"amount": "5.00"})
    assert r.status_code == 409 and "prepaid" in r.json()["detail"], r.text
    r = con.put(
        f"/api/v1/subscriptions/{sub}/credits/auto-top-up", json={"below": "1", "amount": "10"}
    )
    assert r.status_code == 409 and "buy a credit pack first" in r.json()["detail"], r.text
    r = con.post(f"/api/v1/subscriptions/{sub}/credits/checkout", json={"amount": "10.00"})
    assert r.status_code == 409 and "Stripe" in r.json()["detail"], r.text  # not connected
    assert other.get(f"/api/v1/subscriptions/{sub}/credits").status_code == 404
