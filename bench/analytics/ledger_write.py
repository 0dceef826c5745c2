"""Benchmark: the ledger writer's throughput (``store.ledger.SqlLedger.write_lines``, what
the gateway's spool flusher calls) on SQLite and PostgreSQL, in batches of 1,000 spool
lines, into a freshly migrated schema.

    .venv/bin/python bench/analytics/ledger_write.py [--batches N] [--db sqlite|postgresql|both]

Events: 50 subscriptions of one organization, 8 operations, 2 % 4xx, 1 % 5xx, 100 per
millisecond over consecutive hours. Prints events per second (median of three runs of
``--batches`` batches each, after a warm-up batch).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from tollway.metering.events import UsageEvent
from tollway.metering.spool import encode_event
from tollway.store import db
from tollway.store.ledger import SqlLedger

BATCH = 1000
BENCH_DB = "tollway_bench_write"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def lines(start: int, n: int) -> list[bytes]:
    out = []
    for i in range(start, start + n):
        sub = (i * 7) % 50
        status = 404 if i % 50 == 0 else 500 if i % 100 == 1 else 200
        event = UsageEvent(
            event_id=f"ue_{i:012d}",
            timestamp_ms=T0 + i * 10,
            organization_id="org_w",
            api_id=f"api_w{sub % 5}",
            operation_id=f"op_w{i % 8}",
            method="GET",
            status=status,
            latency_ms=5 + i % 100,
            request_bytes=100,
            response_bytes=1000,
            application_id=f"app_w{sub}",
            subscription_id=f"sub_w{sub}",
            credential_id=f"key_w{sub}",
            consumer_id=f"usr_w{sub % 20}",
            environment="production",
            usage_value=None,
        )
        out.append(encode_event(event))
    return out


def measure(engine: Engine, batches: int) -> float:
    db.upgrade(engine)
    ledger = SqlLedger(engine)
    ledger.write_lines(lines(0, BATCH))  # warm-up
    rates = []
    n = BATCH
    for _ in range(3):
        prepared = [lines(n + b * BATCH, BATCH) for b in range(batches)]
        began = time.perf_counter()
        for batch in prepared:
            ledger.write_lines(batch)
        rates.append(batches * BATCH / (time.perf_counter() - began))
        n += batches * BATCH
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="tollway-bench-") as tmp:
            engine = db.make_engine(f"sqlite:///{Path(tmp) / 'ledger.db'}")
            print(f"sqlite: {measure(engine, args.batches):,.0f} events/s", flush=True)
            engine.dispose()
    if args.db in ("postgresql", "both"):
        admin = db.make_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{BENCH_DB}"')
        url = make_url(args.pg_url).set(database=BENCH_DB).render_as_string(hide_password=False)
        engine = db.make_engine(url)
        try:
            print(f"postgresql: {measure(engine, args.batches):,.0f} events/s", flush=True)
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
            admin.dispose()


if __name__ == "__main__":
    main()
