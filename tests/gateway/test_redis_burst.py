"""A concurrent burst through several `tollway gateway` processes sharing Redis: at most
the limit is admitted, everything admitted is metered, and a healthy Redis never turns
into 503s (issue: a connection per check ran the pool dry under a few hundred concurrent
calls, and the limiter took that for "Redis is down")."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from tests.gateway.conftest import PrivateRedis, private_engine
from tests.gateway.procs import TollwayGateway
from tests.gateway.sql_catalog import seed
from tests.gateway.upstream_server import Upstream
from tollway.store import tables as t

pytestmark = pytest.mark.slow
BURST = 300


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with private_engine(tmp_path) as engine:
        yield engine


async def _burst(urls: list[str], key: str) -> list[int]:
    limits = httpx.Limits(max_connections=BURST + 50, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(i: int) -> int:
            url = urls[i % len(urls)] + "/books/v1/slow?s=0.3"
            return (await client.get(url, headers={"apikey": key})).status_code

        return list(await asyncio.gather(*(one(i) for i in range(BURST))))


@pytest.mark.parametrize(
    ("kind", "mode"), [("quota", "open"), ("rate", "closed")], ids=["quota-open", "rate-closed"]
)
def test_a_burst_through_two_gateways_admits_at_most_the_limit(
    tmp_path: Path,
    engine: Engine,
    upstream: Upstream,
    private_redis: PrivateRedis,
    kind: str,
    mode: str,
) -> None:
    limit = 30 if kind == "quota" else 20
    if kind == "quota":
        key = seed(engine, upstream.url, quota=limit)
    else:
        key = seed(engine, upstream.url, rate_limit=limit, rate_unit="hour")
    env = {
        "database_url": engine.url.render_as_string(hide_password=False),
        "redis_url": private_redis.url,
        "rate_limit_failure_mode": mode,
        "upstream_timeout_s": "10",
        "ssrf_allow": '["127.0.0.1"]',  # the test upstream is on loopback
    }
    gateways = [TollwayGateway(tmp_path / f"gw{i}", workers=2, **env) for i in range(2)]
    try:
        codes = Counter(asyncio.run(_burst([gw.url for gw in gateways], key)))
    finally:
        exits = [gw.terminate() for gw in gateways]
    assert exits == [0, 0]
    assert set(codes) <= {200, 429}, codes  # no 503 from a healthy Redis, no 5xx
    assert codes[200] == limit, codes
    with engine.connect() as c:
        metered = c.execute(select(func.count()).select_from(t.usage_events)).scalar()
    assert metered == codes[200]  # the ledger holds exactly what was admitted
