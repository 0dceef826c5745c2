"""The SQL-backed configuration source, in-process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from tests.gateway.conftest import GatewayThread, private_engine
from tests.gateway.helpers import wait_for
from tests.gateway.sql_catalog import revoke_key, seed, set_subscription_state
from tests.gateway.upstream_server import Upstream
from tollway.gateway.config_source import SqlConfigSource
from tollway.gateway.settings import GatewaySettings
from tollway.gateway.snapshot_sql import load_snapshot
from tollway.store import tables as t
from tollway.store.ledger import SqlLedger


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with private_engine(tmp_path) as engine:
        yield engine


def test_snapshot_from_tables(engine: Engine, upstream: Upstream) -> None:
    seed(engine, upstream.url, rate_limit=5, rate_unit="second", quota=100)
    snap = load_snapshot(engine)
    assert snap.version == 1
    route = snap.routes[("books", "v1")]
    assert route.usage_header == b"x-usage-units"
    assert route.upstreams["production"].base_path == "/base"
    assert len(snap.keys) == 1
    plan = snap.plans["plan_1"]
    assert (plan.rate_limit_count, plan.rate_limit_unit, plan.hard_quota) == (5, "second", 100)
    sub = snap.subscription_for("app_1", "api_1")
    assert sub is not None and sub.state == "active"
    revoke_key(engine)
    snap = load_snapshot(engine)
    assert snap.version == 2 and len(snap.keys) == 0


def test_sql_gateway_follows_changes_and_writes_the_ledger(
    engine: Engine, upstream: Upstream, settings: GatewaySettings
) -> None:
    key = seed(engine, upstream.url)
    url = engine.url.render_as_string(hide_password=False)
    gw = GatewayThread(
        settings,
        None,
        None,
        source_factory=lambda: SqlConfigSource(url),
        ledger_obj=SqlLedger(engine),
    )
    try:
        ok = 0

        def status() -> int:
            nonlocal ok
            code = httpx.get(gw.url + "/books/v1/a?usage=3", headers={"apikey": key}).status_code
            ok += code == 200
            return code

        assert status() == 200
        set_subscription_state(engine, "blocked")
        wait_for(lambda: status() == 403, timeout=3)
        set_subscription_state(engine, "active")
        wait_for(lambda: status() == 200, timeout=3)
        # a plan change (rate limit 1/hour) applies without a restart
        from datetime import UTC, datetime

        from sqlalchemy import update

        from tollway.store.changes import bump

        with engine.begin() as c:
            c.execute(
                update(t.plans).values(
                    rate_limit_count=1, rate_limit_unit="hour", updated_at=datetime.now(UTC)
                )
            )
            bump(c)
        wait_for(lambda: status() == 429, timeout=3)
        gw.flush()
        with engine.connect() as c:
            n = c.execute(select(func.count()).select_from(t.usage_events)).scalar()
            usage = c.execute(select(func.sum(t.usage_events.c.usage_value))).scalar()
            last = c.execute(select(t.api_keys.c.last_used_at)).scalar()
        assert n == ok >= 2
        assert usage == 3 * ok
        assert last is not None
    finally:
        gw.stop()


def test_postgres_notify_wakes_the_gateway(pg_engine: Engine, upstream: Upstream) -> None:
    """On PostgreSQL the change notice is LISTEN/NOTIFY, not polling."""
    seed(pg_engine, upstream.url)
    url = pg_engine.url.render_as_string(hide_password=False)

    async def run() -> float:
        source = SqlConfigSource(url, safety_poll_s=3600)  # polling effectively off
        await source.load()
        changes = source.changes()
        first = asyncio.ensure_future(changes.__anext__())  # the catch-up notice on LISTEN
        await asyncio.wait_for(first, 5)
        waiter = asyncio.ensure_future(changes.__anext__())
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await asyncio.to_thread(set_subscription_state, pg_engine, "blocked")
        await asyncio.wait_for(waiter, 5)
        snap = await source.load()
        sub = snap.subscription_for("app_1", "api_1")
        assert sub is not None and sub.state == "blocked"
        await source.close()
        return time.monotonic() - started

    assert asyncio.run(run()) < 1.0
