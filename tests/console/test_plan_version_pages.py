"""Plan versions as the console and the REST API show them, without Stripe: a
subscriber of v1 is "v1 (grandfathered)" after v2 is published with ``stay``, and "v1 →
v3 at renewal" after v3 is published with ``move_at_renewal``; a new subscriber is on
the latest version; the plan's versions list their pricing, limits and subscribers."""

from __future__ import annotations

from typing import Any

from tests.support.rows import application, new_subscription, seed_world

V1 = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"}}


def _pricing(amount: str) -> dict[str, Any]:
    return {"usage": {"meter": "requests", "model": "unit", "unit_amount": amount}}


def test_versions_in_the_console_and_the_api(
    ctx: Any, make_actor: Any, browser_for: Any, admin: Any
) -> None:
    pub = make_actor("publisher")
    world = seed_world(ctx.engine, V1)  # a plan made without versions: it is v1
    old = new_subscription(ctx.engine, world, state="active")
    versions = f"/api/v1/plans/{world.plan_id}/versions"
    assert [v["label"] for v in pub.get(versions).json()] == ["v1"]

    body = {"pricing": _pricing("0.02"), "existing_subscribers": "stay"}
    r = pub.post(versions, json=body)
    assert r.status_code == 201 and r.json()["label"] == "v2", r.text
    r = pub.post(versions, json={**body, "pricing": {"usage": {"model": "unit"}}})
    assert r.status_code in (400, 422) and "pricing" in r.text, r.text  # names the field
    browser = browser_for(pub.email)
    listing = browser.get("/console/subscribers")
    assert "v1 (grandfathered)" in listing.text
    detail = browser.get(f"/console/subscribers/{old}")
    assert "v1 (grandfathered)" in detail.text and "$0.00" in detail.text

    r = pub.post(versions, json={**body, "pricing": _pricing("0.03"), "quota": {"limit": 100},
                                 "existing_subscribers": "move_at_renewal"})  # fmt: skip
    assert r.status_code == 201 and r.json()["quota"] == {"limit": 100, "mode": "hard"}, r.text
    assert "v1 → v3 at renewal" in browser.get(f"/console/subscribers/{old}").text
    other_app = application(ctx.engine, world.consumer_id, name="second")
    fresh = new_subscription(ctx.engine, world, state="active", app_id=other_app)
    assert "data-plan-version>v3<" in browser.get(f"/console/subscribers/{fresh}").text

    listed = pub.get(versions).json()
    assert [(v["label"], v["latest"], v["subscribers"]) for v in listed] == [
        ("v1", False, 1),
        ("v2", False, 0),
        ("v3", True, 1),
    ]
    assert [v["pricing"]["usage"]["unit_amount"] for v in listed] == ["0.01", "0.02", "0.03"]
    assert [v["existing_subscribers"] for v in listed] == ["stay", "stay", "move_at_renewal"]
    r = admin.post("/api/v1/organizations", json={"name": "B", "slug": "b-org"})
    stranger = make_actor("publisher", r.json()["id"])
    assert stranger.get(versions).status_code == 404
    assert stranger.post(versions, json=body).status_code == 404


def test_the_console_publishes_a_version_with_the_publishers_choice(
    ctx: Any, make_actor: Any, browser_for: Any
) -> None:
    pub = make_actor("publisher")
    world = seed_world(ctx.engine, V1)
    new_subscription(ctx.engine, world, state="active")
    browser = browser_for(pub.email)
    plan_url = f"/console/plans/{world.plan_id}"
    page = browser.get(plan_url)
    assert 'data-version="1">v1' in page.text and 'name="existing_subscribers"' in page.text
    price = {"currency": "USD", "pricing.usage.model": "unit", "pricing.usage.unit_amount": "0.05"}
    refused = browser.post(f"{plan_url}/pricing", {**price, "existing_subscribers": "later"})
    assert refused.status_code == 422 and 'id="f-existing_subscribers-error"' in refused.text
    assert [v["label"] for v in pub.get(f"/api/v1/plans/{world.plan_id}/versions").json()] == ["v1"]
    saved = browser.post(f"{plan_url}/pricing", {**price, "existing_subscribers": "stay"})
    assert saved.status_code == 303, saved.text
    page = browser.get(plan_url)
    assert "New price saved as v2. 1 live subscription(s) keep their version" in page.text
    listing = browser.get("/console/subscribers")
    assert "v1 (grandfathered)" in listing.text
