"""Benchmark: the publisher analytics queries (``store.analytics_repo``) on a ledger of
10,000,000 usage events, on SQLite and PostgreSQL: from the hourly rollup
``usage_rollup_hourly``, from the events with the index ``ix_usage_events_org_time``
(organization, time), and from the events without it (all three from migration 0018).

    .venv/bin/python bench/analytics/run.py [--events N] [--db sqlite|postgresql|both]
        [--runs N] [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

The ledger is made in SQL by the database itself (a recursive CTE on SQLite,
``generate_series`` on PostgreSQL) into a migrated schema whose secondary ledger indexes
are built after the fill: 4 organizations, 20 APIs of 8 operations, 4,000 subscriptions
on 12 plans, 2,000 consumers, events spread evenly over 90 days (a quarter of them in the
measured organization), 9 in 10 of them from 100 busy subscriptions, 3 % 4xx and 1 % 5xx.
The rollup is then filled with the migration's backfill (``usage_rollup.REBUILD_SQL``).
SQLite uses a file in a temporary directory; PostgreSQL a database ``tollway_bench``
created and dropped by the script.
Each query's time is the median of ``--runs`` runs (after one warm-up run), wall clock.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import make_url

from tollway.store import analytics_repo, db, usage_rollup
from tollway.store.analytics_repo import Scope

DAY_MS = 86_400_000
SPAN_DAYS = 90
T_START = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
T_END = T_START + SPAN_DAYS * DAY_MS
ORGS, APIS, OPS, SUBS, CONSUMERS, PLANS = 4, 5, 8, 4000, 2000, 3
BUSY_SUBS, BUSY_TENTHS = 100, 9  # 9 calls in 10 come from 100 busy subscriptions
BENCH_DB = "tollway_bench"
ORG_INDEX = "ix_usage_events_org_time"
LEDGER_INDEXES = {
    "ix_usage_events_subscription_time": "subscription_id, timestamp_ms",
    "ix_usage_events_api_time": "api_id, timestamp_ms",
    ORG_INDEX: "organization_id, timestamp_ms",
}
ROLLUP_KEYS = {  # the rollup's primary key, as each database names it
    "sqlite_autoindex_usage_rollup_hourly_1": "rollup",
    "pk_usage_rollup_hourly": "rollup",
}
VARIANTS = ("rollup", "index", "none")


def _fill_sql(dialect: str, n: int) -> str:
    """One INSERT ... SELECT that makes ``n`` events from their number ``i``."""
    busy = f"(i * 7919) % {BUSY_SUBS}"
    sub = f"(CASE WHEN i % 10 < {BUSY_TENTHS} THEN {busy} ELSE (i * 7919) % {SUBS} END)"
    org = f"({sub} % {ORGS})"
    api = f"(({sub} / {ORGS}) % {APIS})"
    if dialect == "sqlite":
        source = (
            f"WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq "
            f"WHERE i < {n - 1}) "
        )
        event_id, recorded, from_ = "printf('ue_%012d', i)", "'2026-04-01 00:00:00.000000'", "seq"
    else:
        source = ""
        event_id, recorded = "'ue_' || lpad(CAST(i AS text), 12, '0')", "now()"
        from_ = f"generate_series(CAST(0 AS bigint), {n - 1}) AS g(i)"
    return (
        f"{source}INSERT INTO usage_events (event_id, timestamp_ms, organization_id, api_id, "
        "operation_id, method, status, latency_ms, request_bytes, response_bytes, "
        "application_id, subscription_id, credential_id, consumer_id, environment, "
        "usage_value, recorded_at) "
        f"SELECT {event_id}, {T_START} + (i * {SPAN_DAYS * DAY_MS}) / {n}, "
        f"'org_b' || {org}, 'api_b' || {org} || '_' || {api}, "
        f"'op_b' || {org} || '_' || {api} || '_' || ((i * 31) % {OPS}), 'GET', "
        "CASE WHEN (i * 17) % 100 < 3 THEN 404 WHEN (i * 17) % 100 = 99 THEN 500 ELSE 200 END, "
        "5 + (i * 37) % 200, 100, 1000, "
        f"'app_b' || {sub}, 'sub_b' || {sub}, 'key_b' || {sub}, "
        f"'usr_b' || ({sub} % {CONSUMERS}), 'production', NULL, {recorded} FROM {from_}"
    )


def _parents(conn: Connection) -> None:
    """The organizations, consumers, APIs, plans, applications and subscriptions the
    events name (what the plan grouping joins)."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    t = {"now": now}
    conn.execute(
        text("INSERT INTO organizations VALUES (:id, :id, :id, :now)"),
        [{"id": f"org_b{o}", **t} for o in range(ORGS)],
    )
    conn.execute(
        text(
            "INSERT INTO users (id, organization_id, email, name, role, password_hash, "
            "disabled, created_at) VALUES (:id, 'org_b0', :email, :id, "
            "'consumer', NULL, false, :now)"
        ),
        [{"id": f"usr_b{c}", "email": f"usr_b{c}@example.com", **t} for c in range(CONSUMERS)],
    )
    conn.execute(
        text(
            "INSERT INTO apis (id, organization_id, name, context, version, description, "
            "lifecycle, usage_header, created_at, updated_at) VALUES "
            "(:id, :org, :id, :id, 'v1', '', 'published', NULL, :now, :now)"
        ),
        [
            {"id": f"api_b{o}_{a}", "org": f"org_b{o}", **t}
            for o in range(ORGS)
            for a in range(APIS)
        ],
    )
    conn.execute(
        text(
            "INSERT INTO plans (id, organization_id, name, description, currency, "
            "billing_interval, billing_interval_count, quota_mode, pricing, status, "
            "created_at, updated_at) VALUES (:id, :org, :id, '', 'USD', 'month', 1, 'hard', "
            "'{}', 'active', :now, :now)"
        ),
        [
            {"id": f"plan_b{o}_{p}", "org": f"org_b{o}", **t}
            for o in range(ORGS)
            for p in range(PLANS)
        ],
    )
    conn.execute(
        text(
            "INSERT INTO applications (id, owner_id, name, description, token_lifetime_s, "
            "created_at) VALUES (:id, :owner, :id, '', 3600, :now)"
        ),
        [{"id": f"app_b{s}", "owner": f"usr_b{s % CONSUMERS}", **t} for s in range(SUBS)],
    )
    conn.execute(
        text(
            "INSERT INTO subscriptions (id, application_id, api_id, plan_id, consumer_id, "
            "state, billing_anchor, created_at, updated_at) VALUES "
            "(:id, :app, :api, :plan, :consumer, 'active', :now, :now, :now)"
        ),
        [
            {
                "id": f"sub_b{s}",
                "app": f"app_b{s}",
                "api": f"api_b{s % ORGS}_{(s // ORGS) % APIS}",
                "plan": f"plan_b{s % ORGS}_{(s // 20) % PLANS}",
                "consumer": f"usr_b{s % CONSUMERS}",
                **t,
            }
            for s in range(SUBS)
        ],
    )


def _timed(label: str, action: Callable[[], Any]) -> float:
    began = time.perf_counter()
    action()
    took = time.perf_counter() - began
    print(f"  {label}: {took:,.1f} s", flush=True)
    return took


def fill(engine: Engine, n: int) -> dict[str, float]:
    """Migrate, add the parent rows, insert ``n`` events without the secondary ledger
    indexes, then build them (the fastest way either database has)."""
    db.upgrade(engine)
    took: dict[str, float] = {}
    with engine.begin() as conn:
        _parents(conn)
        for name in LEDGER_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {name}")
    dialect = engine.dialect.name
    with engine.begin() as conn:
        took["fill"] = _timed(
            f"insert {n:,} events", lambda: conn.execute(text(_fill_sql(dialect, n)))
        )
    for name, columns in LEDGER_INDEXES.items():
        with engine.begin() as conn:
            took[name] = _timed(
                f"CREATE INDEX {name}",
                lambda: conn.exec_driver_sql(f"CREATE INDEX {name} ON usage_events ({columns})"),
            )
    with engine.begin() as conn:
        took["rollup"] = _timed(
            "fill the rollup (the migration's backfill)",
            lambda: conn.execute(text(usage_rollup.REBUILD_SQL)),
        )
        took["rollup_rows"] = conn.execute(
            text("SELECT COUNT(*) FROM usage_rollup_hourly")
        ).scalar_one()
    print(f"  rollup rows: {took['rollup_rows']:,}", flush=True)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        _timed(
            "ANALYZE" if dialect == "sqlite" else "VACUUM ANALYZE",
            lambda: conn.exec_driver_sql(
                "ANALYZE"
                if dialect == "sqlite"
                else "VACUUM ANALYZE usage_events, usage_rollup_hourly"
            ),
        )
    return took


def queries(rollup: bool) -> dict[str, Callable[[Connection], Any]]:
    """The console's queries for one organization (a quarter of the ledger), ending in the
    middle of an hour (as "now" does), from the rollup or from the events only."""
    org = "org_b1"
    last = T_END - 1_234_567

    def scope(days: int, **kw: Any) -> Scope:
        return Scope(organization_id=org, start_ms=last - days * DAY_MS, end_ms=last, **kw)

    def usage(
        days: int, granularity: str, group: str | None, **kw: Any
    ) -> Callable[[Connection], Any]:
        return lambda c: analytics_repo.usage(
            c, scope(days, **kw), granularity, group, rollup=rollup
        )

    return {
        "1 day per hour by API": usage(1, "hour", "api"),
        "7 days per hour by API": usage(7, "hour", "api"),
        "30 days per day, total": usage(30, "day", None),
        "30 days per day by operation, one API": usage(30, "day", "operation", api_id="api_b1_2"),
        "30 days per day by consumer": usage(30, "day", "consumer"),
        "90 days per month by plan (join)": usage(90, "month", "plan"),
        "top 10 consumers, 30 days": lambda c: analytics_repo.top_consumers(
            c, scope(30), 10, rollup=rollup
        ),
    }


def _plan(conn: Connection, run: Callable[[Connection], Any]) -> str:
    """The ledger indexes the database chose for the query ``run`` sends."""
    sent: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, params))

    event.listen(conn, "before_cursor_execute", capture)
    try:
        run(conn)
    finally:
        event.remove(conn, "before_cursor_execute", capture)
    sql, params = sent[0]
    prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    lines = [str(r[-1]) for r in conn.exec_driver_sql(prefix + sql, params).all()]
    names = {
        **{name: name.removeprefix("ix_usage_events_") for name in LEDGER_INDEXES},
        **ROLLUP_KEYS,
    }
    used = sorted({label for name, label in names.items() for line in lines if name in line})
    return ", ".join(used) or "full scan"


def measure(engine: Engine, runs: int, rollup: bool) -> dict[str, tuple[float, str]]:
    out = {}
    with engine.connect() as conn:
        for name, run in queries(rollup).items():
            run(conn)  # warm-up
            times = []
            for _ in range(runs):
                began = time.perf_counter()
                run(conn)
                times.append(time.perf_counter() - began)
            out[name] = (statistics.median(times), _plan(conn, run))
            print(f"  {name}: {out[name][0] * 1000:,.0f} ms ({out[name][1]})", flush=True)
    return out


@contextmanager
def bench_database(kind: str, pg_url: str) -> Iterator[Engine]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="tollway-bench-") as tmp:
            engine = db.make_engine(f"sqlite:///{Path(tmp) / 'ledger.db'}")
            try:
                yield engine
            finally:
                engine.dispose()
        return
    admin = db.make_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{BENCH_DB}"')
    url = make_url(pg_url).set(database=BENCH_DB).render_as_string(hide_password=False)
    engine = db.make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin.dispose()


def run(kind: str, n: int, runs: int, pg_url: str) -> dict[str, Any]:
    print(f"== {kind}: {n:,} events ==", flush=True)
    with bench_database(kind, pg_url) as engine:
        took = fill(engine, n)
        print(" the rollup (and the index for the partial hours)", flush=True)
        rolled = measure(engine, runs, True)
        print(" the events, with the index", flush=True)
        indexed = measure(engine, runs, False)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP INDEX {ORG_INDEX}")
        engine.dispose()  # pooled SQLite connections keep statements planned with it
        print(" the events, without the index", flush=True)
        bare = measure(engine, runs, False)
    return {"took": took, "rollup": rolled, "index": indexed, "none": bare}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    results = {kind: run(kind, args.events, args.runs, args.pg_url) for kind in kinds}
    print(f"\n{args.events:,} events, median of {args.runs} runs (ms); index used in brackets")
    header = "| query | " + " | ".join(f"{k} {v}" for k in kinds for v in VARIANTS) + " |"
    print(header)
    print("|---" * (1 + len(VARIANTS) * len(kinds)) + "|")
    for name in queries(True):
        cells = []
        for kind in kinds:
            for variant in VARIANTS:
                seconds, plan = results[kind][variant][name]
                cells.append(f"{seconds * 1000:,.0f} ({plan})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    for kind in kinds:
        took = results[kind]["took"]
        print(
            f"{kind}: fill {took['fill']:,.0f} s; org index build {took[ORG_INDEX]:,.0f} s; "
            f"rollup fill {took['rollup']:,.0f} s, {took['rollup_rows']:,} rows"
        )


if __name__ == "__main__":
    main()
