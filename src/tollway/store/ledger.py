"""The usage ledger writer (``metering.ledger.LedgerWriter`` over SQL): batches of usage
events into ``usage_events``.

One transaction per batch (never one per call): insert every event, skipping event ids
already present (``INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING``, a chunk per
statement: ``SELECT FROM unnest(arrays)`` on PostgreSQL, multi-row ``VALUES`` on SQLite),
add exactly the inserted events to the hourly rollup
(``store.usage_rollup``, which explains why that is exact), and move
``api_keys.last_used_at`` forward for the keys in the batch. Replaying a batch is
therefore harmless. Columns come from the usage event's fields
(``metering.events.FIELDS``), never spelled out here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update

from tollway.metering.events import (
    DECIMAL_FIELDS,
    FIELDS,
    INT_FIELDS,
    OPTIONAL_FIELDS,
    UsageEvent,
    as_dict,
)
from tollway.metering.spool import LINE_FIELDS
from tollway.store import usage_rollup
from tollway.store.tables import api_keys, usage_events

# spool line field positions (after the version tag at 0); recorded_at is appended last
_COLUMNS = (*LINE_FIELDS, "recorded_at")
_LINE_FIELDS = {name: i for i, name in enumerate(_COLUMNS, start=1)}
_event_id = itemgetter(0)  # a row's event id (the first column)
_MAX_PARAMS = 30_000  # SQLite allows 32,766 bound parameters per statement, PostgreSQL 65,535
_TS = _LINE_FIELDS["timestamp_ms"]
_CREDENTIAL = _LINE_FIELDS["credential_id"]
_OPTIONAL = tuple(_LINE_FIELDS[n] for n in OPTIONAL_FIELDS)
_INTS = tuple(_LINE_FIELDS[n] for n in INT_FIELDS)
_DECIMALS = tuple(_LINE_FIELDS[n] for n in DECIMAL_FIELDS)


def events_between(
    conn: Connection, subscription_id: str, start_ms: int, end_ms: int
) -> list[UsageEvent]:
    """The subscription's ledger events with ``start_ms <= timestamp_ms < end_ms``."""
    rows = conn.execute(
        select(*(usage_events.c[name] for name in FIELDS)).where(
            usage_events.c.subscription_id == subscription_id,
            usage_events.c.timestamp_ms >= start_ms,
            usage_events.c.timestamp_ms < end_ms,
        )
    ).all()
    return [UsageEvent(*row) for row in rows]


def calls_between(conn: Connection, subscription_id: str, start_ms: int, end_ms: int) -> int:
    """Admitted calls of a subscription in the ledger with ``start_ms <= timestamp_ms <
    end_ms`` (what quotas, budgets and prepaid credit count)."""
    u = usage_events.c
    query = (
        select(func.count())
        .select_from(usage_events)
        .where(u.subscription_id == subscription_id)
        .where(u.timestamp_ms >= start_ms, u.timestamp_ms < end_ms)
    )
    return int(conn.execute(query).scalar() or 0)


def calls_since(conn: Connection, subscription_id: str, since: datetime) -> int:
    """Every admitted call of a subscription from ``since`` on (a prepaid balance's life)."""
    return calls_between(conn, subscription_id, int(since.timestamp() * 1000), 2**62)


def event_row(e: UsageEvent, recorded_at: datetime) -> dict[str, Any]:
    return {**as_dict(e), "recorded_at": recorded_at}


class SqlLedger:
    """Batch writer for SQLite and PostgreSQL; keeps the hourly rollup
    (``store.usage_rollup``) in step in the same transaction."""

    def __init__(self, engine: Engine, *, chunk: int = 1000) -> None:
        self.engine = engine
        if engine.dialect.name not in ("postgresql", "sqlite"):  # pragma: no cover
            raise ValueError(f"unsupported database: {engine.dialect.name}")
        # rows per statement: within both databases' limits on bound parameters
        self._chunk = max(1, min(chunk, _MAX_PARAMS // len(_COLUMNS)))
        self._full_sql: str | None = None
        self._processors: list[Any] | None = None
        self._touch = (
            update(api_keys)
            .where(api_keys.c.id == bindparam("key_id"))
            .where(
                (api_keys.c.last_used_at.is_(None))
                | (api_keys.c.last_used_at < bindparam("used_at"))
            )
            .values(last_used_at=bindparam("used_at"))
        )

    def write(self, events: Sequence[UsageEvent]) -> int:
        if not events:
            return 0
        now = datetime.now(UTC)
        last_used: dict[str, int] = {}
        for e in events:
            if e.timestamp_ms > last_used.get(e.credential_id, 0):
                last_used[e.credential_id] = e.timestamp_ms
        with self.engine.begin() as conn:
            procs = self._bind_processors(conn)
            rows = []
            for e in events:
                row = event_row(e, now)
                rows.append(
                    tuple(
                        proc(row[name]) if proc is not None and row[name] is not None else row[name]
                        for name, proc in zip(_COLUMNS, procs, strict=True)
                    )
                )
            inserted = self._insert(conn, rows)
            self._touch_keys(conn, last_used)
        return inserted

    def write_lines(self, lines: Sequence[bytes]) -> int:
        """Fast path for spool lines (``tollway.metering.spool`` format): no UsageEvent
        objects, values converted once per batch where possible."""
        if not lines:
            return 0
        recorded_at = datetime.now(UTC)
        last_used: dict[str, int] = {}
        with self.engine.begin() as conn:
            sqlite_dialect = conn.dialect.name == "sqlite"
            to_db = self._bind_processors(conn)[-1]  # recorded_at's
            rec = to_db(recorded_at) if to_db is not None and sqlite_dialect else recorded_at
            rows: list[Any] = []
            for line in lines:
                p: list[Any] = line.decode("utf-8").rstrip("\n").split("\t")
                ts = int(p[_TS])
                if ts > last_used.get(p[_CREDENTIAL], 0):
                    last_used[p[_CREDENTIAL]] = ts
                for i in _OPTIONAL:
                    p[i] = p[i] or None
                if not sqlite_dialect:
                    # (SQLite's column affinity turns the digit strings into numbers itself)
                    for i in _INTS:
                        p[i] = int(p[i])
                    for i in _DECIMALS:
                        if p[i] is not None:
                            p[i] = Decimal(p[i])
                p.append(rec)
                rows.append(p[1:])
            inserted = self._insert(conn, rows)
            self._touch_keys(conn, last_used)
        return inserted

    def _insert(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> int:
        """Insert the rows (values in ``_COLUMNS`` order) in multi-row statements, skipping
        event ids already present, and add exactly the inserted ones to the rollup.

        Rows go in event id order: two flushers holding some of the same events (a batch
        re-sent while its first flush is still running) then wait for each other's ids in
        one order and cannot deadlock on PostgreSQL's unique index."""
        rows = sorted(rows, key=_event_id)
        totals: usage_rollup.Totals = {}
        inserted = 0
        for i in range(0, len(rows), self._chunk):
            part = rows[i : i + self._chunk]
            if conn.dialect.name == "postgresql":  # one array per column
                arrays = tuple(list(column) for column in zip(*part, strict=True))
                returned = conn.exec_driver_sql(self._unnest_sql(conn), arrays).all()
            else:
                flat = tuple(value for row in part for value in row)
                returned = conn.exec_driver_sql(self._sql(conn, len(part)), flat).all()
            inserted += len(returned)
            usage_rollup.add(totals, returned)
        usage_rollup.apply(conn, totals)
        return inserted

    def _unnest_sql(self, conn: Connection) -> str:
        """PostgreSQL: ``INSERT ... SELECT * FROM unnest(<one array per column>) ON
        CONFLICT (event_id) DO NOTHING RETURNING`` the rollup's columns (one statement of
        constant text whatever the batch size, several times cheaper than many rows)."""
        if self._full_sql is None:
            casts = ", ".join(
                f"%s::{usage_events.c[name].type.compile(dialect=conn.dialect)}[]"
                for name in _COLUMNS
            )
            self._full_sql = (
                f"INSERT INTO usage_events ({', '.join(_COLUMNS)}) "  # noqa: S608
                f"SELECT * FROM unnest({casts}) "
                "ON CONFLICT (event_id) DO NOTHING RETURNING " + ", ".join(usage_rollup.RETURNED)
            )
        return self._full_sql

    def _sql(self, conn: Connection, rows: int) -> str:
        """SQLite: ``INSERT ... VALUES (...) x rows ON CONFLICT (event_id) DO NOTHING
        RETURNING`` the rollup's columns (full chunks' statement built once)."""
        if rows == self._chunk and self._full_sql is not None:
            return self._full_sql
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        one = "(" + ", ".join([mark] * len(_COLUMNS)) + ")"
        # only constant column names and placeholders: values are always bound
        sql = (
            f"INSERT INTO usage_events ({', '.join(_COLUMNS)}) VALUES "  # noqa: S608
            + ", ".join([one] * rows)
            + " ON CONFLICT (event_id) DO NOTHING RETURNING "
            + ", ".join(usage_rollup.RETURNED)
        )
        if rows == self._chunk:
            self._full_sql = sql
        return sql

    def _bind_processors(self, conn: Connection) -> list[Any]:
        """Each column's conversion to the driver's value (None: as it is)."""
        if self._processors is None:
            compiled = usage_events.insert().compile(dialect=conn.dialect)
            processors = compiled._bind_processors
            self._processors = [processors.get(name) for name in _COLUMNS]
        return self._processors

    def _touch_keys(self, conn: Any, last_used: dict[str, int]) -> None:
        """Move each key's ``last_used_at`` forward to its latest event (ms since epoch)."""
        conn.execute(
            self._touch,
            [
                {"key_id": k, "used_at": datetime.fromtimestamp(ms / 1000, UTC)}
                for k, ms in sorted(last_used.items())
            ],
        )
