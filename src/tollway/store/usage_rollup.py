"""The hourly rollup of the usage ledger: ``usage_rollup_hourly`` holds, per UTC hour and
(organization, subscription, operation, API, application, consumer), the calls, 4xx and
5xx errors and latency sum and maximum of the events in ``usage_events``. Analytics reads
whole hours from it (``store.analytics_repo``).

Exactness. The rollup changes only in the ledger writer's transaction (``store.ledger``),
from the rows that transaction actually inserted: every ledger insert is
``INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING <rollup columns>``, and both
databases return exactly the rows the statement inserted, never the ones skipped as
duplicates (PostgreSQL: "only rows that were successfully inserted"; SQLite: no row for
a DO NOTHING conflict). An event re-sent after a crash, or sent by two flushers at once,
is inserted by exactly one statement, so it is counted once; if the transaction rolls
back, its rollup increments roll back with it. The increments are summed per rollup key
in Python and applied with ``INSERT ... ON CONFLICT (key) DO UPDATE SET calls =
calls + excluded.calls, ...`` (the larger of the two maxima), which PostgreSQL applies
atomically under concurrent writers. Keys are upserted in sorted order, so two writers
lock shared rollup rows in the same order and cannot deadlock on them.

``REBUILD_SQL`` recomputes the rollup from the ledger (the migration's backfill, ``tollway
analytics rebuild-rollup``, the benchmark's fill).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, case, text
from sqlalchemy.dialects import postgresql, sqlite

from tollway.store.rollup_tables import usage_rollup_hourly

HOUR_MS = 3_600_000
NO_OPERATION = ""  # the rollup's operation_id of an event without one

#: The ledger columns the rollup needs, in the order the ledger insert returns them.
RETURNED = (
    "organization_id",
    "timestamp_ms",
    "subscription_id",
    "operation_id",
    "api_id",
    "application_id",
    "consumer_id",
    "status",
    "latency_ms",
)
#: The rollup's key (its primary key) and its measures (every other column), in table order.
KEY = tuple(c.name for c in usage_rollup_hourly.primary_key.columns)
MEASURES = tuple(c.name for c in usage_rollup_hourly.columns if not c.primary_key)

#: The rollup recomputed from the ledger (hours of 3,600,000 ms; '' for no operation).
REBUILD_SQL = (
    "INSERT INTO usage_rollup_hourly (organization_id, hour_ms, subscription_id, "
    "operation_id, api_id, application_id, consumer_id, calls, errors_4xx, errors_5xx, "
    "latency_ms_sum, latency_ms_max) "
    "SELECT organization_id, timestamp_ms - timestamp_ms % 3600000, subscription_id, "
    "COALESCE(operation_id, ''), api_id, application_id, consumer_id, COUNT(*), "
    "SUM(CASE WHEN status >= 400 AND status < 500 THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END), "
    "SUM(latency_ms), MAX(latency_ms) "
    "FROM usage_events "
    "GROUP BY organization_id, timestamp_ms - timestamp_ms % 3600000, subscription_id, "
    "COALESCE(operation_id, ''), api_id, application_id, consumer_id"
)

Totals = dict[tuple[Any, ...], list[int]]


def add(totals: Totals, inserted: Iterable[Sequence[Any]]) -> None:
    """Add ledger rows (``RETURNED`` columns) to ``totals`` (rollup key -> measures)."""
    for org, ts, sub, op, api, app, consumer, status, latency in inserted:
        ts, status, latency = int(ts), int(status), int(latency)
        key = (org, ts - ts % HOUR_MS, sub, op or NO_OPERATION, api, app, consumer)
        m = totals.get(key)
        if m is None:
            m = totals[key] = [0, 0, 0, 0, 0]
        m[0] += 1
        if status >= 500:
            m[2] += 1
        elif status >= 400:
            m[1] += 1
        m[3] += latency
        if latency > m[4]:
            m[4] = latency


def _upsert(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(usage_rollup_hourly)
    r, new = usage_rollup_hourly.c, stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=list(KEY),
        set_={
            "calls": r.calls + new.calls,
            "errors_4xx": r.errors_4xx + new.errors_4xx,
            "errors_5xx": r.errors_5xx + new.errors_5xx,
            "latency_ms_sum": r.latency_ms_sum + new.latency_ms_sum,
            "latency_ms_max": case(
                (new.latency_ms_max > r.latency_ms_max, new.latency_ms_max),
                else_=r.latency_ms_max,
            ),
        },
    )


_UPSERTS: dict[str, Any] = {}


def apply(conn: Connection, totals: Totals) -> None:
    """Add ``totals`` to the rollup, in key order (inside the ledger insert's transaction)."""
    if not totals:
        return
    dialect = conn.dialect.name
    if dialect not in _UPSERTS:
        _UPSERTS[dialect] = _upsert(dialect)
    conn.execute(
        _UPSERTS[dialect],
        [dict(zip(KEY + MEASURES, (*k, *totals[k]), strict=True)) for k in sorted(totals)],
    )


def rebuild(conn: Connection) -> int:
    """Recompute the whole rollup from the ledger (in the caller's transaction); returns
    the number of rollup rows. On PostgreSQL the ledger is locked against writes (reads go
    on) until the transaction ends, so no flush lands between the delete and the sums."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE usage_events IN SHARE MODE")
    conn.execute(usage_rollup_hourly.delete())
    return max(0, conn.execute(text(REBUILD_SQL)).rowcount or 0)
