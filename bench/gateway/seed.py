"""Create a SQLite catalog for the gateway benchmark: one published API (``/bench/v1``)
whose production upstream is the benchmark nginx, one active subscription on a plan with a
rate limit far above the load, and one API key. Prints the raw key.

The rows are the gateway tests' catalog (``tests/gateway/sql_catalog.py``), shaped for the
benchmark: no usage header, no quota, no upstream base path."""

from __future__ import annotations

import sys
from pathlib import Path

from tollway.store import tables as t
from tollway.store.db import make_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "gateway"))
from sql_catalog import seed as seed_catalog  # noqa: E402


def seed(database_url: str, upstream_url: str, *, rate_limit: int = 1_000_000_000) -> str:
    engine = make_engine(database_url)
    t.metadata.create_all(engine)
    try:
        return seed_catalog(
            engine,
            upstream_url,
            rate_limit=rate_limit,
            rate_unit="second",
            quota_mode="overage",
            context="bench",
            usage_header=None,
            base_path="",
        )
    finally:
        engine.dispose()


if __name__ == "__main__":
    print(seed(sys.argv[1], sys.argv[2]))
