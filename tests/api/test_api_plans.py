"""Plans: pricing models, invalid pricing named by field, monetize per API, delete vs retire."""

from __future__ import annotations

from typing import Any

import pytest

TIERS: list[dict[str, Any]] = [
    {"up_to": 1000, "unit_amount": "0.01", "flat_amount": "0"},
    {"up_to": None, "unit_amount": "0.005", "flat_amount": "5.00"},
]
MODELS: dict[str, dict[str, Any]] = {
    "flat": {"flat_fee": "49.00"},
    "unit": {
        "flat_fee": "0",
        "included_units": 100,
        "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.002"},
    },
    "package": {
        "usage": {
            "meter": "requests",
            "model": "package",
            "unit_amount": "1.50",
            "package_size": 1000,
        }
    },
    "graduated": {"usage": {"meter": "requests", "model": "graduated", "tiers": TIERS}},
    "volume": {
        "flat_fee": "10.00",
        "usage": {"meter": "requests", "model": "volume", "tiers": TIERS},
    },
}


@pytest.mark.parametrize("model", list(MODELS))
def test_create_plan_with_each_pricing_model(make_actor: Any, model: str) -> None:
    pub = make_actor("publisher")
    body = {
        "name": f"{model} plan",
        "currency": "usd",
        "billing_interval": "quarter",
        "rate_limit": {"count": 10, "per": "second"},
        "quota": {"limit": 100000, "mode": "overage"},
        "pricing": MODELS[model],
    }
    r = pub.post("/api/v1/plans", json=body)
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["currency"] == "USD" and plan["free"] is False and plan["status"] == "active"
    assert plan["rate_limit"] == {"count": 10, "per": "second"}
    assert plan["quota"] == {"limit": 100000, "mode": "overage"}
    usage = plan["pricing"].get("usage")
    if "usage" in MODELS[model]:
        assert usage["model"] == model
    assert pub.get(f"/api/v1/plans/{plan['id']}").json() == plan


@pytest.mark.parametrize(
    ("pricing", "currency", "field"),
    [
        (
            {
                "usage": {
                    "meter": "requests",
                    "model": "graduated",
                    "tiers": [TIERS[0], {**TIERS[0], "up_to": 10}, TIERS[1]],
                }
            },
            "USD",
            "pricing.usage.tiers[1].up_to",
        ),
        (
            {"usage": {"meter": "requests", "model": "volume", "tiers": [TIERS[0]]}},
            "USD",
            "pricing.usage.tiers",
        ),
        ({"flat_fee": "-1.00"}, "USD", "pricing.flat_fee"),
        (
            {"usage": {"meter": "requests", "model": "unit", "unit_amount": "-0.01"}},
            "USD",
            "pricing.usage.unit_amount",
        ),
        ({"flat_fee": "9.999"}, "USD", "pricing.flat_fee"),
        ({"flat_fee": "100.5"}, "JPY", "pricing.flat_fee"),
        ({"flat_fee": "1"}, "XYZ", "currency"),
        (
            {"usage": {"meter": "nope", "model": "unit", "unit_amount": "1"}},
            "USD",
            "pricing.usage.meter",
        ),
        (
            {"usage": {"meter": "requests", "model": "magic", "unit_amount": "1"}},
            "USD",
            "pricing.usage.model",
        ),
    ],
)
def test_invalid_pricing_is_422_naming_the_field(
    make_actor: Any, pricing: dict[str, Any], currency: str, field: str
) -> None:
    pub = make_actor("publisher")
    r = pub.post("/api/v1/plans", json={"name": "bad", "currency": currency, "pricing": pricing})
    assert r.status_code == 422, r.text
    body = r.json()
    fields = [e["field"] for e in body["errors"]]
    assert any(f == field or f.startswith(field) for f in fields), fields
    assert pub.get("/api/v1/plans").json()["data"] == []


def test_free_plan_and_enable_disable_per_api(cat: Any, make_actor: Any) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    api1, api2 = cat.api(pub, "one"), cat.api(pub, "two")
    free = cat.plan(pub, "Free", {"flat_fee": "0.00"})
    assert free["free"] is True
    zero_usage = cat.plan(
        pub, "Zero usage", {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0"}}
    )
    assert zero_usage["free"] is True
    assert cat.plan(pub, "JPY", {"flat_fee": "500"}, currency="JPY")["free"] is False
    # not enabled anywhere: consumers cannot see it
    assert con.get(f"/api/v1/plans/{free['id']}").status_code == 404
    r = pub.put(f"/api/v1/apis/{api1['id']}/plans/{free['id']}", json={"enabled": True})
    assert r.status_code == 200 and r.json()["enabled"] is True
    assert con.get(f"/api/v1/plans/{free['id']}").json()["free"] is True
    assert [p["plan_id"] for p in con.get(f"/api/v1/apis/{api1['id']}/plans").json()] == [
        free["id"]
    ]
    assert con.get(f"/api/v1/apis/{api2['id']}/plans").json() == []
    r = pub.put(f"/api/v1/apis/{api1['id']}/plans/{free['id']}", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert con.get(f"/api/v1/apis/{api1['id']}/plans").json() == []
    assert pub.get(f"/api/v1/apis/{api1['id']}/plans").json()[0]["enabled"] is False
    assert con.get(f"/api/v1/plans/{free['id']}").status_code == 404


def test_plan_in_use_cannot_be_deleted_only_retired(cat: Any, make_actor: Any) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    api = cat.api(pub, "books")
    unused = cat.plan(pub, "Unused", api_id=api["id"])
    used = cat.plan(pub, "Used", api_id=api["id"])
    app = cat.app(con)
    assert cat.subscribe(con, app["id"], api["id"], used["id"]).status_code == 201
    assert pub.delete(f"/api/v1/plans/{unused['id']}").status_code == 204
    assert pub.get(f"/api/v1/plans/{unused['id']}").status_code == 404
    r = pub.delete(f"/api/v1/plans/{used['id']}")
    assert r.status_code == 409 and "retire" in r.json()["detail"]
    r = pub.post(f"/api/v1/plans/{used['id']}/retire")
    assert r.status_code == 200 and r.json()["status"] == "retired"
    r = pub.put(f"/api/v1/apis/{api['id']}/plans/{used['id']}", json={"enabled": True})
    assert r.status_code == 409
    other = cat.app(con, "second")
    assert cat.subscribe(con, other["id"], api["id"], used["id"]).status_code == 404
    assert pub.post("/api/v1/plans", json={"name": "Used", "currency": "USD"}).status_code == 409


def test_update_plan_validates_pricing(make_actor: Any, cat: Any) -> None:
    pub = make_actor("publisher")
    plan = cat.plan(pub, "P", {"flat_fee": "1.00"})
    r = pub.patch(f"/api/v1/plans/{plan['id']}", json={"pricing": {"flat_fee": "1.001"}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "pricing.flat_fee"
    r = pub.patch(
        f"/api/v1/plans/{plan['id']}",
        json={"pricing": {}, "name": "Now free", "rate_limit": {"count": 5, "per": "day"}},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["free"]) == ("Now free", True)
    assert r.json()["rate_limit"] == {"count": 5, "per": "day"}
