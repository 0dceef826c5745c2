"""The billing page Checkout and the Stripe portal return to."""

from typing import Any


def test_billing_page_lists_only_the_signed_in_consumers_subscriptions(
    http: Any, make_actor: Any
) -> None:
    anonymous = http.get("/portal/billing", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/portal/sign-in?next=/portal/billing"

    pub = make_actor("publisher")
    api = pub.post("/api/v1/apis", json={"name": "Books <b>", "context": "books", "version": "v1"})
    api_id = api.json()["id"]
    pub.put(
        f"/api/v1/apis/{api_id}/deployments/production", json={"upstream_url": "http://127.0.0.1:9"}
    )
    plan = pub.post("/api/v1/plans", json={"name": "Free", "currency": "USD"}).json()
    pub.put(f"/api/v1/apis/{api_id}/plans/{plan['id']}", json={"enabled": True})
    pub.post(f"/api/v1/apis/{api_id}/lifecycle", json={"state": "published"})

    alice, bob = make_actor("consumer"), make_actor("consumer")
    app = alice.post("/api/v1/applications", json={"name": "a"}).json()
    sub = alice.post(
        "/api/v1/subscriptions",
        json={"application_id": app["id"], "api_id": api_id, "plan_id": plan["id"]},
    ).json()

    http.cookies.set("tollway_session", alice.token)
    page = http.get("/portal/billing")
    assert sub["id"] in page.text and 'data-state="active"' in page.text
    assert "Books &lt;b&gt;" in page.text  # escaped
    http.cookies.set("tollway_session", bob.token)
    other = http.get("/portal/billing")
    assert sub["id"] not in other.text and "No subscriptions yet" in other.text
