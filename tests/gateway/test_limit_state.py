"""Where the limits' state comes from when it is lost: a hard quota re-seeded from the
ledger (and the unflushed spool, and the calls in flight) after Redis loses its keys;
rate limits and quotas rebuilt from the ledger when the embedded gateway restarts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import Engine, func, select

from tests.gateway.conftest import GatewayThread, PrivateRedis, private_engine
from tests.gateway.helpers import wait_for
from tests.gateway.sql_catalog import seed
from tests.gateway.upstream_server import Upstream
from tollway.gateway.config_source import SqlConfigSource
from tollway.gateway.settings import GatewaySettings
from tollway.store import tables as t
from tollway.store.ledger import SqlLedger


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with private_engine(tmp_path) as engine:
        yield engine


def _sql_gateway(engine: Engine, settings: GatewaySettings) -> GatewayThread:
    url = engine.url.render_as_string(hide_password=False)
    ledger = SqlLedger(engine)
    return GatewayThread(
        settings, None, None, source_factory=lambda: SqlConfigSource(url), ledger_obj=ledger
    )


def _ledger_count(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(t.usage_events)).scalar() or 0)


def _codes(gw: GatewayThread, key: str, n: int) -> list[int]:
    return [
        httpx.get(gw.url + "/books/v1/a", headers={"apikey": key}).status_code for _ in range(n)
    ]


@pytest.mark.parametrize("loss", ["flushdb", "restart"])
def test_quota_after_redis_loses_its_keys_comes_from_the_ledger(
    engine: Engine,
    upstream: Upstream,
    settings: GatewaySettings,
    private_redis: PrivateRedis,
    loss: str,
) -> None:
    quota = 10
    key = seed(engine, upstream.url, quota=quota)
    gw = _sql_gateway(
        engine,
        replace(
            settings, redis_url=private_redis.url, flush_interval_s=3600, upstream_timeout_s=10
        ),
    )
    slow: list[int] = []
    try:
        assert _codes(gw, key, 3) == [200] * 3
        gw.flush()
        assert _ledger_count(engine) == 3  # in the ledger
        assert _codes(gw, key, 3) == [200] * 3  # only in the spool: not flushed
        call = threading.Thread(
            target=lambda: slow.append(
                httpx.get(
                    gw.url + "/books/v1/slow?s=1.5", headers={"apikey": key}, timeout=10
                ).status_code
            )
        )
        call.start()  # admitted and still in flight when the keys are lost
        wait_for(lambda: gw.gateway.app.inflight == 1)
        if loss == "flushdb":
            redis.Redis.from_url(private_redis.url).flushdb()
        else:
            private_redis.stop()
            private_redis.start()  # no persistence: every key is gone
        # 3 in the ledger + 3 spooled + 1 in flight = 7 used: 3 more, then the quota holds
        assert _codes(gw, key, 6) == [200] * 3 + [429] * 3
        call.join(10)
        assert slow == [200]
    finally:
        gw.stop()
    assert _ledger_count(engine) == quota  # admitted = metered = the quota


def test_rate_limit_and_quota_survive_a_restart_of_the_embedded_gateway(
    engine: Engine, upstream: Upstream, settings: GatewaySettings
) -> None:
    key = seed(engine, upstream.url, rate_limit=5, rate_unit="hour", quota=8)
    gw = _sql_gateway(engine, settings)
    try:
        assert _codes(gw, key, 6) == [200] * 5 + [429]
    finally:
        gw.stop()  # flushes: the 5 calls are in the ledger
    again = _sql_gateway(engine, settings)  # no Redis: the in-process limiter starts empty
    try:
        assert _codes(again, key, 2) == [429, 429]
        r = httpx.get(again.url + "/books/v1/a", headers={"apikey": key})
        assert r.json()["reason"] == "rate_limited"
        assert int(r.headers["retry-after"]) > 600  # the hour's budget is really spent
    finally:
        again.stop()
    assert _ledger_count(engine) == 5
