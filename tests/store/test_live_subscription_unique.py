"""The database itself refuses a second live subscription for the same application and
API (the check in code alone races under READ COMMITTED)."""

from typing import Any

import pytest

from tollway.domain.errors import Conflict
from tollway.domain.subscriptions import Cause, SubState
from tollway.store import subscriptions_repo


def test_database_refuses_second_live_subscription(
    ctx: Any, make_actor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    api = pub.post("/api/v1/apis", json={"name": "A", "context": "a", "version": "v1"}).json()
    plan = pub.post("/api/v1/plans", json={"name": "Free", "currency": "USD"}).json()
    app = con.post("/api/v1/applications", json={"name": "app"}).json()
    # Simulate the race: both requests passed the check before either inserted.
    monkeypatch.setattr(subscriptions_repo, "live_for", lambda *a, **k: None)
    args = dict(
        application_id=app["id"],
        api_id=api["id"],
        plan_id=plan["id"],
        consumer_id=con.id,
        state=SubState.ACTIVE,
        cause=Cause.USER,
        actor=None,
    )
    with ctx.tx() as conn:
        first = subscriptions_repo.create(conn, now=ctx.clock.now(), **args)
        with pytest.raises(Conflict):
            subscriptions_repo.create(conn, now=ctx.clock.now(), **args)
        # the transaction is still usable; a cancelled one no longer blocks a new one
        subscriptions_repo.transition(
            conn,
            str(first["id"]),
            SubState.CANCELLED,
            cause=Cause.USER,
            actor=None,
            reason=None,
            now=ctx.clock.now(),
        )
        subscriptions_repo.create(conn, now=ctx.clock.now(), **args)
