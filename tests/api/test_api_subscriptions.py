"""Subscriptions: states, conflicts, publisher block/unblock, audit log, config version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from httpx import Response

from tollway.domain.subscriptions import Cause, SubState
from tollway.services import billing
from tollway.store import changes, subscriptions_repo

PAID = {"flat_fee": "10.00"}


def _version(ctx: Any) -> int:
    with ctx.engine.connect() as conn:
        return changes.current(conn)


def test_free_active_paid_on_hold_and_conflicts(ctx: Any, cat: Any, make_actor: Any) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    api = cat.api(pub, "books")
    free = cat.plan(pub, "Free", api_id=api["id"])
    paid = cat.plan(pub, "Pro", PAID, api_id=api["id"])
    off = cat.plan(pub, "Off")  # never enabled
    app1, app2, app3 = cat.app(con, "one"), cat.app(con, "two"), cat.app(con, "three")
    assert not billing.is_configured(ctx)

    r = cat.subscribe(con, app1["id"], api["id"], free["id"])
    assert r.status_code == 201, r.text
    assert (r.json()["state"], r.json()["consumer_id"]) == ("active", con.id)
    # a paid plan before its publisher connected Stripe: refused, nothing is left on hold
    r = cat.subscribe(con, app2["id"], api["id"], paid["id"])
    assert r.status_code == 409, r.text
    assert "has not connected a payment provider" in r.json()["detail"]
    # one live subscription per application and API, whatever the plan
    for plan in (free, paid):
        r = cat.subscribe(con, app1["id"], api["id"], plan["id"])
        assert r.status_code == 409, r.text
    r = cat.subscribe(con, app2["id"], api["id"], free["id"])
    assert r.status_code == 201
    r = cat.subscribe(con, app3["id"], api["id"], off["id"])
    assert r.status_code == 404
    r = cat.subscribe(con, app3["id"], api["id"], "plan_missing")
    assert r.status_code == 404
    draft = cat.api(pub, "draft", publish=False)
    r = cat.subscribe(con, app3["id"], draft["id"], free["id"])
    assert r.status_code == 404  # consumers cannot see an unpublished API
    states = sorted(s["state"] for s in con.get("/api/v1/subscriptions").json()["data"])
    assert states == ["active", "active"]


def test_transitions_audit_log_and_config_version(ctx: Any, cat: Any, make_actor: Any) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    api = cat.api(pub, "books")
    free = cat.plan(pub, "Free", api_id=api["id"])
    app = cat.app(con)

    v0 = _version(ctx)
    r = cat.subscribe(con, app["id"], api["id"], free["id"])
    sub_id = r.json()["id"]
    v1 = _version(ctx)
    assert v1 > v0

    r = pub.post(f"/api/v1/subscriptions/{sub_id}/block", json={"reason": "abuse"})
    assert r.status_code == 200 and r.json()["state"] == "blocked"
    v2 = _version(ctx)
    assert v2 > v1
    # a blocked subscription is still live: no second one
    other = cat.subscribe(con, app["id"], api["id"], free["id"])
    assert other.status_code == 409
    r = pub.post(f"/api/v1/subscriptions/{sub_id}/unblock", json={})
    assert r.status_code == 200 and r.json()["state"] == "active"
    v3 = _version(ctx)
    assert v3 > v2
    # the consumer cannot block or unblock their own subscription
    assert con.post(f"/api/v1/subscriptions/{sub_id}/block", json={}).status_code == 403
    assert con.post(f"/api/v1/subscriptions/{sub_id}/unblock", json={}).status_code == 403

    r = con.post(f"/api/v1/subscriptions/{sub_id}/cancel", json={"reason": "done"})
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    v4 = _version(ctx)
    assert v4 > v3
    r = pub.post(f"/api/v1/subscriptions/{sub_id}/unblock", json={})
    assert r.status_code == 409
    body = r.json()
    assert (body["current"], body["allowed"]) == ("cancelled", [])
    r = con.post(f"/api/v1/subscriptions/{sub_id}/cancel", json={})
    assert r.status_code in (200, 409)
    assert _version(ctx) == v4  # refused/no-op changes do not bump

    events = con.get(f"/api/v1/subscriptions/{sub_id}/events").json()
    moves = [(e["from_state"], e["to_state"], e["cause"], e["actor"]) for e in events]
    assert moves == [
        (None, "active", "user", con.id),
        ("active", "blocked", "admin", pub.id),
        ("blocked", "active", "admin", pub.id),
        ("active", "cancelled", "user", con.id),
    ]
    assert events[1]["reason"] == "abuse" and events[3]["reason"] == "done"
    assert pub.get(f"/api/v1/subscriptions/{sub_id}/events").json() == events

    # after cancelling, a new subscription may be made
    r = cat.subscribe(con, app["id"], api["id"], free["id"])
    assert r.status_code == 201 and r.json()["id"] != sub_id


def test_gateway_relevant_changes_bump_config_version(ctx: Any, cat: Any, make_actor: Any) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    api = cat.api(pub, "books", publish=False)
    app = cat.app(con)
    plan = cat.plan(pub, "Free")
    steps = [
        lambda: pub.put(
            f"/api/v1/apis/{api['id']}/deployments/production",
            json={"upstream_url": "http://127.0.0.1:9"},
        ),
        lambda: pub.post(f"/api/v1/apis/{api['id']}/lifecycle", json={"state": "published"}),
        lambda: pub.put(f"/api/v1/apis/{api['id']}/plans/{plan['id']}", json={"enabled": True}),
        lambda: pub.patch(
            f"/api/v1/plans/{plan['id']}", json={"rate_limit": {"count": 1, "per": "second"}}
        ),
        lambda: con.post(f"/api/v1/applications/{app['id']}/keys", json={}),
        lambda: con.post(f"/api/v1/applications/{app['id']}/oauth-clients", json={}),
        lambda: con.patch(f"/api/v1/applications/{app['id']}", json={"token_lifetime_s": 60}),
    ]
    step: Callable[[], Response]
    for step in steps:
        before = _version(ctx)
        r = step()
        assert r.status_code in (200, 201), r.text
        assert _version(ctx) == before + 1, r.request.url
    before = _version(ctx)
    assert con.get(f"/api/v1/applications/{app['id']}").status_code == 200
    assert _version(ctx) == before


def test_admin_block_is_admin_cause(admin: Any, cat: Any, make_actor: Any) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    api = cat.api(pub, "books")
    free = cat.plan(pub, "Free", api_id=api["id"])
    app = cat.app(con)
    sub_id = cat.subscribe(con, app["id"], api["id"], free["id"]).json()["id"]
    assert admin.post(f"/api/v1/subscriptions/{sub_id}/block", json={}).status_code == 200
    assert admin.post(f"/api/v1/subscriptions/{sub_id}/cancel", json={}).status_code == 200
    events = con.get(f"/api/v1/subscriptions/{sub_id}/events").json()
    assert [(e["to_state"], e["cause"], e["actor"]) for e in events[1:]] == [
        ("blocked", "admin", admin.id),
        ("cancelled", "admin", admin.id),
    ]


def test_unblock_does_not_activate_an_unpaid_subscription(
    ctx: Any, cat: Any, make_actor: Any
) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    api = cat.api(pub, "paid-only")
    paid = cat.plan(pub, "Pro", PAID, api_id=api["id"])
    app = cat.app(con)
    with ctx.tx() as conn:  # waiting for payment (Checkout is the billing tests' business)
        sub = subscriptions_repo.create(
            conn,
            application_id=app["id"],
            api_id=api["id"],
            plan_id=paid["id"],
            consumer_id=con.id,
            state=SubState.ON_HOLD,
            cause=Cause.USER,
            actor=con.id,
            now=ctx.clock.now(),
        )
    assert con.get(f"/api/v1/subscriptions/{sub['id']}").json()["state"] == "on_hold"
    r = pub.post(f"/api/v1/subscriptions/{sub['id']}/unblock", json={})
    assert r.status_code == 409, r.text
    assert con.get(f"/api/v1/subscriptions/{sub['id']}").json()["state"] == "on_hold"
