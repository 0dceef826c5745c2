"""The analytics aggregation in SQL against hand-computed figures on a small ledger whose
events sit on UTC hour, day and month edges (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support import rows
from tollway.store import analytics_repo
from tollway.store.analytics_repo import Counts, Scope
from tollway.store.ledger import SqlLedger

FREE = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0"}}


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


JAN31_LAST = ms("2026-01-31T23:59:59.999")
FEB1 = ms("2026-02-01T00:00:00")
FEB1_0059 = ms("2026-02-01T00:59:59.999")
FEB1_01 = ms("2026-02-01T01:00:00")
MAR1 = ms("2026-03-01T00:00:00")
START, END = ms("2026-01-31T00:00:00"), ms("2026-03-02T00:00:00")


@pytest.fixture
def ledger(engine: Engine) -> dict[str, Any]:
    """Two APIs, two plans, two consumers of one organization, and a call of another."""
    w = rows.seed_world(engine, FREE)
    api2 = rows.api(engine, w.org_id)
    plan2 = rows.seed_plan(engine, w.org_id, api2, FREE, name="Other")
    c2 = rows.user(engine, w.org_id, "consumer")
    s1 = rows.new_subscription(engine, w, state="active")
    s2 = rows.new_subscription(engine, w, state="cancelled")
    app2 = rows.application(engine, c2)
    s3 = rows.new_subscription(engine, w, state="active", plan_id=plan2, app_id=app2)
    a1 = w.api_id
    events = [  # (ts, api, operation, status, latency, consumer, subscription)
        (JAN31_LAST, a1, "op_1", 200, 10, w.consumer_id, s1),
        (FEB1, a1, "op_1", 404, 30, w.consumer_id, s1),
        (FEB1_0059, a1, "op_2", 500, 20, c2, s2),
        (FEB1_01, api2, None, 200, 40, c2, s3),
        (MAR1, a1, "op_1", 200, 5, w.consumer_id, s1),
        (END, a1, "op_1", 200, 7, w.consumer_id, s1),  # the range's end: left out
        (FEB1 + 1, "api_elsewhere", None, 200, 1000, "usr_elsewhere", "sub_elsewhere"),
    ]
    written = []
    for i, (ts, api, op, status, latency, consumer, sub) in enumerate(events):
        org = "org_elsewhere" if api == "api_elsewhere" else w.org_id
        written.append(
            rows.usage_event(
                i,
                timestamp_ms=ts,
                organization_id=org,
                api_id=api,
                operation_id=op,
                status=status,
                latency_ms=latency,
                consumer_id=consumer,
                subscription_id=sub,
            )
        )
    SqlLedger(engine).write(written)
    return {"w": w, "api2": api2, "plan2": plan2, "c2": c2}


def _usage(engine: Engine, scope: Scope, granularity: str, group: str | None) -> list[Counts]:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # buckets are UTC whatever the session says
            conn.exec_driver_sql("SET TIME ZONE 'Pacific/Auckland'")
        return analytics_repo.usage(conn, scope, granularity, group)


def _scope(ledger: dict[str, Any], **kw: Any) -> Scope:
    return Scope(organization_id=ledger["w"].org_id, start_ms=START, end_ms=END, **kw)


def test_months_split_at_utc_midnight_of_the_first(engine: Engine, ledger: dict[str, Any]) -> None:
    got = _usage(engine, _scope(ledger), "month", None)
    assert got == [
        Counts(None, ms("2026-01-01T00:00:00"), 1, 0, 0, 10, 10),
        Counts(None, FEB1, 3, 1, 1, 90, 40),
        Counts(None, MAR1, 1, 0, 0, 5, 5),
    ]


def test_days_split_at_utc_midnight(engine: Engine, ledger: dict[str, Any]) -> None:
    got = _usage(engine, _scope(ledger), "day", None)
    assert [(c.start_ms, c.calls, c.latency_sum_ms) for c in got] == [
        (ms("2026-01-31T00:00:00"), 1, 10),
        (FEB1, 3, 90),
        (MAR1, 1, 5),
    ]


def test_hours_per_api(engine: Engine, ledger: dict[str, Any]) -> None:
    w, api2 = ledger["w"], ledger["api2"]
    got = _usage(engine, _scope(ledger), "hour", "api")
    assert got == [
        Counts(w.api_id, ms("2026-01-31T23:00:00"), 1, 0, 0, 10, 10),
        Counts(w.api_id, FEB1, 2, 1, 1, 50, 30),
        Counts(api2, FEB1_01, 1, 0, 0, 40, 40),
        Counts(w.api_id, MAR1, 1, 0, 0, 5, 5),
    ]


def test_groups_by_plan_operation_and_consumer(engine: Engine, ledger: dict[str, Any]) -> None:
    w = ledger["w"]
    sc = _scope(ledger)
    by_plan = {c.key: c.calls for c in _usage(engine, sc, "month", "plan") if c.start_ms == FEB1}
    assert by_plan == {w.plan_id: 2, ledger["plan2"]: 1}
    by_op = {(c.key, c.start_ms): c.calls for c in _usage(engine, sc, "month", "operation")}
    assert by_op == {
        ("op_1", ms("2026-01-01T00:00:00")): 1,
        ("op_1", FEB1): 1,
        ("op_2", FEB1): 1,
        (None, FEB1): 1,
        ("op_1", MAR1): 1,
    }
    by_consumer = _usage(engine, sc, "month", "consumer")
    assert sum(c.calls for c in by_consumer if c.key == ledger["c2"]) == 2


def test_filters_narrow_the_events(engine: Engine, ledger: dict[str, Any]) -> None:
    def calls(**kw: Any) -> int:
        return sum(c.calls for c in _usage(engine, _scope(ledger, **kw), "month", None))

    assert calls() == 5
    assert calls(api_id=ledger["api2"]) == 1
    assert calls(plan_id=ledger["plan2"]) == 1
    assert calls(operation_id="op_1") == 3
    assert calls(consumer_id=ledger["c2"]) == 2


def test_an_admin_sees_every_organization(engine: Engine, ledger: dict[str, Any]) -> None:
    everyone = Scope(organization_id=None, start_ms=START, end_ms=END)
    got = _usage(engine, everyone, "month", None)
    assert [c.calls for c in got] == [1, 4, 1]
    assert max(c.latency_max_ms for c in got) == 1000


def test_top_consumers(engine: Engine, ledger: dict[str, Any]) -> None:
    w = ledger["w"]
    with engine.connect() as conn:
        top = analytics_repo.top_consumers(conn, _scope(ledger), 10)
        first = analytics_repo.top_consumers(conn, _scope(ledger), 1)
        emails = analytics_repo.labels(conn, "consumer", [w.consumer_id])
    assert [(c.key, c.calls, c.errors_4xx, c.errors_5xx) for c in top] == [
        (w.consumer_id, 3, 1, 0),
        (ledger["c2"], 2, 0, 1),
    ]
    assert [c.key for c in first] == [w.consumer_id]
    assert emails[w.consumer_id].endswith("@example.com")
