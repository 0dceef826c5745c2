"""The hourly rollup is exact: random batches written through the real ledger writer by
several flushers at once, with events re-sent within a batch, across batches and by two
flushers, give the same answer to every analytics query from the rollup as from the raw
events (SQLite and PostgreSQL); rebuilding it from the ledger changes nothing."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from tests.support import rows
from tollway.cli import app as cli_app
from tollway.metering.events import UsageEvent, as_dict
from tollway.store import analytics_repo, db, usage_rollup
from tollway.store.analytics_repo import GRANULARITIES, GROUPS, Scope
from tollway.store.ledger import SqlLedger
from tollway.store.rollup_tables import usage_rollup_hourly
from tollway.store.tables import usage_events

FREE = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0"}}
HOUR = 3_600_000
T0 = int(datetime(2026, 1, 30, 22, tzinfo=UTC).timestamp() * 1000)  # across a month's end
SPAN = 60 * HOUR


@pytest.fixture
def world(engine: Engine) -> dict[str, Any]:
    """One organization with two APIs, two plans and three subscriptions (and calls of
    another organization's, which need no rows of their own)."""
    w = rows.seed_world(engine, FREE)
    api2 = rows.api(engine, w.org_id)
    plan2 = rows.seed_plan(engine, w.org_id, api2, FREE, name="Other")
    app2 = rows.application(engine, rows.user(engine, w.org_id, "consumer"))
    subs = [
        (rows.new_subscription(engine, w, state="active"), w.api_id),
        (rows.new_subscription(engine, w, state="active", plan_id=plan2, app_id=app2), api2),
        (rows.new_subscription(engine, w, state="cancelled"), w.api_id),
    ]
    return {"w": w, "subs": subs, "plan2": plan2}


def _events(world: dict[str, Any], rng: random.Random, n: int) -> list[UsageEvent]:
    w = world["w"]
    out = []
    for i in range(n):
        foreign = rng.random() < 0.1
        sub, api = ("sub_elsewhere", "api_elsewhere") if foreign else rng.choice(world["subs"])
        out.append(
            rows.usage_event(
                i,
                event_id=f"ue_{i:08d}",
                timestamp_ms=T0 + rng.randrange(SPAN),
                organization_id="org_elsewhere" if foreign else w.org_id,
                api_id=api,
                operation_id=rng.choice(["op_a", "op_b", None]),
                status=rng.choice([200, 200, 200, 201, 404, 429, 500, 503]),
                latency_ms=rng.randrange(1, 2000),
                subscription_id=sub,
                application_id=rng.choice(["app_a", "app_b"]),
                consumer_id=rng.choice(["usr_a", "usr_b", "usr_c"]),
            )
        )
    return out


def _batches(events: list[UsageEvent], rng: random.Random) -> Iterator[list[UsageEvent]]:
    """Batches of up to 150 events, each with a few events re-sent from anywhere (already
    written, written by another flusher, or twice in the same batch)."""
    for i in range(0, len(events), 100):
        batch = events[i : i + 100] + rng.sample(events, 50)
        rng.shuffle(batch)
        yield batch


def _scopes(world: dict[str, Any]) -> list[Scope]:
    w, api2 = world["w"], world["subs"][1][1]
    org = w.org_id

    def s(start: int, end: int, **kw: Any) -> Scope:
        return Scope(organization_id=org, start_ms=start, end_ms=end, **kw)

    return [
        s(T0, T0 + SPAN),  # whole hours
        s(T0 - 5 * HOUR, T0 + SPAN + 5 * HOUR),
        s(T0 + 1234, T0 + SPAN - 777),  # partial hours at both ends
        s(T0 + 3 * HOUR + 10, T0 + 3 * HOUR + HOUR // 2),  # inside one hour
        s(T0 + 5 * HOUR, T0 + 5 * HOUR),  # empty
        s(T0 + 999, T0 + 40 * HOUR, api_id=api2),
        s(T0, T0 + SPAN - 1, plan_id=world["plan2"]),
        s(T0 + 1, T0 + SPAN, operation_id="op_a", consumer_id="usr_b"),
        s(T0, T0 + 30 * HOUR + 1, application_id="app_a"),
        Scope(organization_id=None, start_ms=T0 + 17, end_ms=T0 + SPAN),
    ]


def _rollup_table(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(usage_rollup_hourly)).all())


def test_the_rollup_answers_every_query_like_the_raw_events(
    engine: Engine, world: dict[str, Any]
) -> None:
    rng = random.Random(20261128)
    events = _events(world, rng, 1500)
    batches = list(_batches(events, rng))
    flushers = [SqlLedger(engine, chunk=40) for _ in range(3)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        written = list(
            pool.map(
                lambda i: flushers[i % 3].write(batches[i]),
                range(len(batches)),
            )
        )
    # the same batches again (a crash before the spool's checkpoint): nothing new
    assert flushers[0].write(batches[0]) == 0
    assert sum(written) == len(events)

    with engine.connect() as conn:
        ledger_calls = conn.execute(select(func.count()).select_from(usage_events)).scalar()
        rollup_calls = conn.execute(select(func.sum(usage_rollup_hourly.c.calls))).scalar()
        assert ledger_calls == rollup_calls == len(events)
        compared = 0
        for scope in _scopes(world):
            for granularity in GRANULARITIES:
                for group in (None, *GROUPS):
                    got = analytics_repo.usage(conn, scope, granularity, group)
                    raw = analytics_repo.usage(conn, scope, granularity, group, rollup=False)
                    assert got == raw, (scope, granularity, group)
                    compared += bool(raw)
            top = analytics_repo.top_consumers(conn, scope, 2)
            assert top == analytics_repo.top_consumers(conn, scope, 2, rollup=False)
    assert compared > 150  # most of the comparisons had something to compare

    before = _rollup_table(engine)
    with db.transaction(engine) as conn:
        assert usage_rollup.rebuild(conn) == len(before)
    assert _rollup_table(engine) == before


def test_rebuild_rollup_command_recomputes_it_from_the_ledger(
    engine: Engine, database_url: str, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    SqlLedger(engine).write(_events(world, random.Random(7), 200))
    expected = _rollup_table(engine)
    with db.transaction(engine) as conn:
        conn.execute(usage_rollup_hourly.update().values(calls=0))
    monkeypatch.setenv("TOLLWAY_DATABASE_URL", database_url)
    result = CliRunner().invoke(cli_app, ["analytics", "rebuild-rollup"])
    assert result.exit_code == 0, result.output
    assert f"usage rollup rebuilt: {len(expected)} row(s)" in result.output
    assert _rollup_table(engine) == expected


def test_the_migration_fills_the_rollup_from_the_events_already_stored(
    engine: Engine, world: dict[str, Any]
) -> None:
    events = _events(world, random.Random(3), 300)
    expected: usage_rollup.Totals = {}
    usage_rollup.add(
        expected, [tuple(getattr(e, name) for name in usage_rollup.RETURNED) for e in events]
    )
    cfg = db.alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0017_plans_sell")
        now = datetime.now(UTC)
        with db.transaction(engine) as conn:  # a ledger written before the rollup existed
            conn.execute(
                usage_events.insert(), [{**as_dict(e), "recorded_at": now} for e in events]
            )
    finally:
        db.upgrade(engine)
    got = {tuple(row[:7]): list(row[7:]) for row in _rollup_table(engine)}
    assert got == expected
