"""The usage ledger writer (``metering.ledger.LedgerWriter`` over SQL): batches of usage
events into ``usage_events``.

One transaction per batch (never one per call): insert every event, skipping event ids
already present (``INSERT ... ON CONFLICT (event_id) DO NOTHING`` on SQLite and
PostgreSQL), and move ``api_keys.last_used_at`` forward for the keys in the batch.
Replaying a batch is therefore harmless. Columns come from the usage event's fields
(``metering.events.FIELDS``), never spelled out here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tollway.metering.events import (
    DECIMAL_FIELDS,
    FIELDS,
    INT_FIELDS,
    OPTIONAL_FIELDS,
    UsageEvent,
    as_dict,
)
from tollway.metering.spool import LINE_FIELDS
from tollway.store.tables import api_keys, usage_events

# spool line field positions (after the version tag at 0); recorded_at is appended last
_LINE_FIELDS = {name: i for i, name in enumerate((*LINE_FIELDS, "recorded_at"), start=1)}
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
    """Batch writer for SQLite and PostgreSQL."""

    def __init__(self, engine: Engine, *, chunk: int = 1000) -> None:
        self.engine = engine
        self._chunk = chunk
        dialect = engine.dialect.name
        if dialect == "postgresql":
            self._insert: Any = postgresql.insert(usage_events).on_conflict_do_nothing(
                index_elements=["event_id"]
            )
        elif dialect == "sqlite":
            self._insert = sqlite.insert(usage_events).on_conflict_do_nothing(
                index_elements=["event_id"]
            )
        else:  # pragma: no cover - only the two supported databases
            raise ValueError(f"unsupported database: {dialect}")
        self._compiled: tuple[str, Any] | None = None
        self._line_sql: tuple[str, list[int], dict[str, Any]] | None = None
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
        inserted = 0
        with self.engine.begin() as conn:
            fast = self._fast_insert(conn)
            for i in range(0, len(events), self._chunk):
                part = events[i : i + self._chunk]
                if fast is not None:
                    sql, to_params = fast
                    result = conn.exec_driver_sql(sql, [to_params(e, now) for e in part])
                else:
                    result = conn.execute(self._insert, [event_row(e, now) for e in part])
                inserted += max(0, result.rowcount or 0)
            self._touch_keys(conn, last_used)
        return inserted

    def write_lines(self, lines: Sequence[bytes]) -> int:
        """Fast path for spool lines (``tollway.metering.spool`` format): no UsageEvent
        objects, values converted once per batch where possible."""
        if not lines:
            return 0
        recorded_at = datetime.now(UTC)
        last_used: dict[str, int] = {}
        inserted = 0
        with self.engine.begin() as conn:
            sql, order, processors = self._line_insert(conn)
            sqlite_dialect = conn.dialect.name == "sqlite"
            to_db = processors.get("recorded_at")
            rec = to_db(recorded_at) if to_db is not None else recorded_at
            rows: list[Any] = []
            for line in lines:
                p: list[Any] = line.decode("utf-8").rstrip("\n").split("\t")
                ts = int(p[_TS])
                if ts > last_used.get(p[_CREDENTIAL], 0):
                    last_used[p[_CREDENTIAL]] = ts
                for i in _OPTIONAL:
                    p[i] = p[i] or None
                if sqlite_dialect:
                    # SQLite's column affinity turns the digit strings into integers/reals.
                    p.append(rec)
                    rows.append(tuple(p[i] for i in order))
                else:
                    for i in _INTS:
                        p[i] = int(p[i])
                    for i in _DECIMALS:
                        if p[i] is not None:
                            p[i] = Decimal(p[i])
                    p.append(recorded_at)
                    rows.append({name: p[i] for name, i in _LINE_FIELDS.items()})
            for i in range(0, len(rows), self._chunk):
                result = conn.exec_driver_sql(sql, rows[i : i + self._chunk])
                inserted += max(0, result.rowcount or 0)
            self._touch_keys(conn, last_used)
        return inserted

    def _touch_keys(self, conn: Any, last_used: dict[str, int]) -> None:
        """Move each key's ``last_used_at`` forward to its latest event (ms since epoch)."""
        conn.execute(
            self._touch,
            [
                {"key_id": k, "used_at": datetime.fromtimestamp(ms / 1000, UTC)}
                for k, ms in sorted(last_used.items())
            ],
        )

    def _line_insert(self, conn: Any) -> tuple[str, list[int], dict[str, Any]]:
        if self._line_sql is None:
            compiled = self._insert.compile(dialect=conn.dialect)
            names = list(compiled.positiontup or _LINE_FIELDS)
            self._line_sql = (
                str(compiled),
                [_LINE_FIELDS[n] for n in names],
                dict(compiled._bind_processors),
            )
        return self._line_sql

    def _fast_insert(self, conn: Any) -> tuple[str, Any] | None:
        """The insert compiled once and run through the driver's ``executemany`` (the ORM-free
        path is several times cheaper per row, which matters on a gateway host)."""
        if self._compiled is not None:
            return self._compiled
        dialect = conn.dialect
        compiled = self._insert.compile(dialect=dialect)
        processors = compiled._bind_processors
        names = list(compiled.positiontup or [])
        if dialect.name == "sqlite" and names:
            procs = [(name, processors.get(name)) for name in names]

            def to_tuple(e: UsageEvent, now: datetime) -> tuple[Any, ...]:
                row = event_row(e, now)
                return tuple(
                    proc(row[name]) if proc is not None and row[name] is not None else row[name]
                    for name, proc in procs
                )

            self._compiled = (str(compiled), to_tuple)
        elif dialect.name == "postgresql":

            def to_dict(e: UsageEvent, now: datetime) -> dict[str, Any]:
                row = event_row(e, now)
                for name, proc in processors.items():
                    if name in row and row[name] is not None:
                        row[name] = proc(row[name])
                return row

            self._compiled = (str(compiled), to_dict)
        return self._compiled
