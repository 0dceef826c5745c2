"""Default plan on sign-up, end to end: REST API and a real ``tollway gateway``. The
publisher names the API's free plan as its default; a consumer's new application is
subscribed to it at once and can call the API with its first key."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.waiting import wait_until

from .published import publish_api

FREE = {
    "name": "Free",
    "currency": "USD",
    "billing_interval": "month",
    "rate_limit": {"count": 100, "per": "hour"},
}
PAID = {**FREE, "name": "Paid", "pricing": {"flat_fee": "5.00"}}


def test_new_application_is_subscribed_to_the_default_plan(
    make_actor: Any, http: Any, upstream: str, gateway: str
) -> None:
    gw = gateway
    pub = make_actor("publisher")
    api_id, (free, paid) = publish_api(pub, upstream, "books", [FREE, PAID])
    consumer = make_actor("consumer")
    before = consumer.post("/api/v1/applications", json={"name": "before"}).json()["id"]

    assert pub.put(f"/api/v1/apis/{api_id}/default-plan", json={"plan_id": paid}).status_code == 409
    r = consumer.put(f"/api/v1/apis/{api_id}/default-plan", json={"plan_id": free})
    assert r.status_code in (403, 404), r.text
    r = pub.put(f"/api/v1/apis/{api_id}/default-plan", json={"plan_id": "plan_nope"})
    assert r.status_code == 404, r.text
    r = pub.put(f"/api/v1/apis/{api_id}/default-plan", json={"plan_id": free})
    assert r.status_code == 200 and r.json() == {"api_id": api_id, "plan_id": free}
    r = consumer.get(f"/api/v1/apis/{api_id}/default-plan")
    assert r.status_code == 200 and r.json()["plan_id"] == free

    r = consumer.post("/api/v1/applications", json={"name": "reader-app"})
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    subs = consumer.get("/api/v1/subscriptions").json()["data"]
    assert [(s["application_id"], s["plan_id"], s["state"]) for s in subs] == [
        (app_id, free, "active")
    ]  # the application made before the default was set is not subscribed
    assert before not in {s["application_id"] for s in subs}

    key = consumer.post(f"/api/v1/applications/{app_id}/keys", json={}).json()["key"]
    books = f"{gw}/books/v1/books"
    wait_until(
        lambda: httpx.get(books, headers={"apikey": key}).status_code == 200,
        15,
        "the gateway to admit the default subscription",
    )

    assert pub.put(f"/api/v1/apis/{api_id}/default-plan", json={"plan_id": None}).status_code == 200
    consumer.post("/api/v1/applications", json={"name": "later"})
    assert len(consumer.get("/api/v1/subscriptions").json()["data"]) == 1
