"""A subscription state change made by billing (webhooks, checkout, grace sweep) must
reach the gateways: it bumps the config version in the same transaction."""

from typing import Any

from sqlalchemy import select

from tollway.domain.subscriptions import Cause, SubState
from tollway.store import changes, subscriptions_repo
from tollway.store.tables import subscriptions


def test_move_state_bumps_config_version(ctx: Any, admin: Any, make_actor: Any) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    api = pub.post("/api/v1/apis", json={"name": "A", "context": "a", "version": "v1"}).json()
    pub.put(
        f"/api/v1/apis/{api['id']}/deployments/production",
        json={"upstream_url": "http://127.0.0.1:9"},
    )
    plan = pub.post("/api/v1/plans", json={"name": "Free", "currency": "USD"}).json()
    pub.put(f"/api/v1/apis/{api['id']}/plans/{plan['id']}", json={"enabled": True})
    pub.post(f"/api/v1/apis/{api['id']}/lifecycle", json={"state": "published"})
    app = con.post("/api/v1/applications", json={"name": "app"}).json()
    sub = con.post(
        "/api/v1/subscriptions",
        json={"application_id": app["id"], "api_id": api["id"], "plan_id": plan["id"]},
    ).json()

    with ctx.tx() as conn:
        before = changes.current(conn)
        moved = subscriptions_repo.move_state(
            conn,
            sub["id"],
            SubState.BLOCKED,
            cause=Cause.WEBHOOK,
            now=ctx.clock.now(),
            reason="invoice.payment_failed",
        )
        assert moved
    with ctx.tx(read_only=True) as conn:
        assert changes.current(conn) == before + 1
        state = conn.execute(
            select(subscriptions.c.state).where(subscriptions.c.id == sub["id"])
        ).scalar_one()
    assert state == "blocked"
    with ctx.tx() as conn:  # no change, no bump
        assert not subscriptions_repo.move_state(
            conn, sub["id"], SubState.BLOCKED, cause=Cause.WEBHOOK, now=ctx.clock.now()
        )
        assert changes.current(conn) == before + 1
