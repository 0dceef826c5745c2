"""Repository behaviour below the HTTP layer: transitions, audit, config version, revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from tests.support import rows
from tollway.domain.errors import Conflict, IllegalTransition
from tollway.domain.principal import Principal
from tollway.domain.subscriptions import Cause, SubState
from tollway.services import plans
from tollway.store import changes, db, keys_repo, plans_repo
from tollway.store import subscriptions_repo as subs
from tollway.store.tables import revoked_tokens, subscription_events

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def world(engine: Engine) -> rows.World:
    return rows.seed_world(engine, pricing={})


def _sub(engine: Engine, w: rows.World, state: SubState = SubState.ACTIVE) -> str:
    with db.transaction(engine) as conn:
        row = subs.create(
            conn,
            application_id=w.app_id,
            api_id=w.api_id,
            plan_id=w.plan_id,
            consumer_id=w.consumer_id,
            state=state,
            cause=Cause.USER,
            actor=w.consumer_id,
            now=NOW,
        )
    return str(row["id"])


def test_transition_only_from_and_illegal(engine: Engine, world: rows.World) -> None:
    sub_id = _sub(engine, world, SubState.ON_HOLD)
    with db.transaction(engine) as conn:
        v = changes.current(conn)
        # a webhook that expects 'blocked' finds 'on_hold': nothing happens
        assert not subs.transition(
            conn,
            sub_id,
            SubState.ACTIVE,
            cause=Cause.WEBHOOK,
            actor=None,
            reason=None,
            now=NOW,
            only_from=SubState.BLOCKED,
        )
        assert subs.transition(
            conn,
            sub_id,
            SubState.ACTIVE,
            cause=Cause.WEBHOOK,
            actor=None,
            reason="paid",
            now=NOW,
            only_from=SubState.ON_HOLD,
        )
        assert not subs.transition(
            conn, sub_id, SubState.ACTIVE, cause=Cause.WEBHOOK, actor=None, reason=None, now=NOW
        )  # already there
        assert changes.current(conn) == v + 1
    with db.transaction(engine) as conn:
        subs.transition(
            conn, sub_id, SubState.EXPIRED, cause=Cause.SYSTEM, actor=None, reason=None, now=NOW
        )
        with pytest.raises(IllegalTransition) as info:
            subs.transition(
                conn, sub_id, SubState.ACTIVE, cause=Cause.ADMIN, actor=None, reason=None, now=NOW
            )
        assert info.value.allowed == ()
        events = conn.execute(
            select(subscription_events.c.to_state, subscription_events.c.cause).order_by(
                subscription_events.c.id
            )
        ).all()
    assert [tuple(e) for e in events] == [
        ("on_hold", "user"),
        ("active", "webhook"),
        ("expired", "system"),
    ]


def test_one_live_subscription_per_app_and_api(engine: Engine, world: rows.World) -> None:
    first = _sub(engine, world)
    with pytest.raises(Conflict):
        _sub(engine, world, SubState.ON_HOLD)
    with db.transaction(engine) as conn:
        subs.transition(
            conn, first, SubState.CANCELLED, cause=Cause.USER, actor=None, reason=None, now=NOW
        )
    assert _sub(engine, world) != first


def test_bump_is_part_of_the_transaction(engine: Engine) -> None:
    with db.transaction(engine) as conn:
        start = changes.current(conn)
    with pytest.raises(RuntimeError), db.transaction(engine) as conn:
        assert changes.bump(conn) == start + 1
        raise RuntimeError("roll back")
    with db.transaction(engine) as conn:
        assert changes.current(conn) == start
        assert changes.bump(conn) == start + 1
    with db.transaction(engine, read_only=True) as conn:
        assert changes.current(conn) == start + 1


def test_revoke_token_is_idempotent_and_purges_expired(engine: Engine) -> None:
    with db.transaction(engine) as conn:
        keys_repo.revoke_token(conn, "old", NOW + timedelta(minutes=1), NOW)
        keys_repo.revoke_token(conn, "jti1", NOW + timedelta(hours=1), NOW)
        v = changes.current(conn)
        keys_repo.revoke_token(conn, "jti1", NOW + timedelta(hours=1), NOW)
        assert changes.current(conn) == v
    later = NOW + timedelta(minutes=30)
    with db.transaction(engine) as conn:
        keys_repo.revoke_token(conn, "jti2", later + timedelta(hours=1), later)
        jtis = sorted(conn.execute(select(revoked_tokens.c.jti)).scalars())
    assert jtis == ["jti1", "jti2"]


def test_plan_delete_refused_when_in_use(engine: Engine, world: rows.World) -> None:
    _sub(engine, world)
    admin = Principal(world.admin_id, "admin", world.org_id, "a@example.com")
    with db.transaction(engine) as conn:
        assert plans_repo.in_use(conn, world.plan_id)
        with pytest.raises(Conflict):  # the rule (services.plans)
            plans.delete_plan(conn, admin, world.plan_id)
    with pytest.raises(Conflict), db.transaction(engine) as conn:  # and the foreign key
        plans_repo.delete_plan(conn, world.plan_id)
    with db.transaction(engine) as conn:
        plans_repo.retire(conn, world.plan_id, NOW)
        assert plans_repo.get_any(conn, world.plan_id)["status"] == "retired"
