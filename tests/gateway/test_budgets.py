"""Consumer budgets at the gateway: a $0.10 cap on $0.02 calls admits exactly five calls
and refuses the sixth with 402, in one `tollway gateway` process on the embedded
limiter and across two processes sharing Redis; every admitted call carries the spend
so far and what is left."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select, update

from tests.gateway.conftest import PrivateRedis, private_engine
from tests.gateway.procs import TollwayGateway
from tests.gateway.sql_catalog import seed
from tests.gateway.upstream_server import Upstream
from tests.support.waiting import wait_until
from tollway.store import budgets_repo
from tollway.store import tables as t

pytestmark = pytest.mark.slow
UNIT_PLAN = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with private_engine(tmp_path) as engine:
        yield engine


def _budgeted(engine: Engine, upstream: Upstream, amount: str) -> str:
    key = seed(engine, upstream.url)
    with engine.begin() as c:
        c.execute(update(t.plans).where(t.plans.c.id == "plan_1").values(pricing=UNIT_PLAN))
        budgets_repo.put(
            c, "sub_1", amount=amount, currency="USD", actor="usr_1", now=datetime.now(UTC)
        )
    return key


def _ledger(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(t.usage_events)).scalar() or 0)


def _env(engine: Engine, **more: str) -> dict[str, str]:
    return {
        "database_url": engine.url.render_as_string(hide_password=False),
        "ssrf_allow": '["127.0.0.1"]',  # the test upstream is on loopback
        "public_url": "https://api.example.com",
        **more,
    }


def test_a_budget_admits_the_calls_it_pays_for_and_refuses_the_next_with_402(
    tmp_path: Path, engine: Engine, upstream: Upstream
) -> None:
    key = _budgeted(engine, upstream, "0.10")
    gateway = TollwayGateway(tmp_path / "gw", workers=1, **_env(engine))
    try:
        with httpx.Client(base_url=gateway.url, headers={"apikey": key}, timeout=10) as client:
            answers = [client.get("/books/v1/items") for _ in range(7)]
    finally:
        assert gateway.terminate() == 0
    assert [r.status_code for r in answers] == [200] * 5 + [402] * 2
    spent = [r.headers["Tollway-Budget-Spent"] for r in answers[:5]]
    assert spent == ["0.02 USD", "0.04 USD", "0.06 USD", "0.08 USD", "0.10 USD"]
    left = [r.headers["Tollway-Budget-Remaining"] for r in answers[:5]]
    assert left == ["0.08 USD", "0.06 USD", "0.04 USD", "0.02 USD", "0.00 USD"]
    assert {r.headers["Tollway-Budget-Limit"] for r in answers[:5]} == {"0.10 USD"}
    refusal = answers[5]
    assert refusal.headers["content-type"] == "application/problem+json"
    body = refusal.json()
    assert body["status"] == 402
    assert body["reason"] == "budget_exceeded"
    assert (body["budget"], body["spent"], body["currency"]) == ("0.10", "0.10", "USD")
    assert "0.10 USD" in body["detail"]
    assert body["raise_budget"] == "https://api.example.com/api/v1/subscriptions/sub_1/budget"
    assert refusal.headers["Tollway-Budget-Remaining"] == "0.00 USD"
    wait_until(lambda: _ledger(engine) == 5, timeout=30, what="five calls in the ledger")


def test_raising_the_budget_lets_calls_through_again(
    tmp_path: Path, engine: Engine, upstream: Upstream
) -> None:
    key = _budgeted(engine, upstream, "0.04")
    gateway = TollwayGateway(tmp_path / "gw", workers=1, **_env(engine))
    try:
        with httpx.Client(base_url=gateway.url, headers={"apikey": key}, timeout=10) as client:
            first = [client.get("/books/v1/items").status_code for _ in range(3)]
            with engine.begin() as c:
                budgets_repo.put(
                    c,
                    "sub_1",
                    amount="0.06",
                    currency="USD",
                    actor="usr_1",
                    now=datetime.now(UTC),
                )

            def raised() -> bool:
                return client.get("/books/v1/items").status_code == 200

            wait_until(raised, timeout=30, what="the raised budget at the gateway")
            after = [client.get("/books/v1/items").status_code for _ in range(2)]
    finally:
        assert gateway.terminate() == 0
    assert first == [200, 200, 402]
    assert after == [402, 402]  # 0.06 buys three calls: two before, one after the raise
    wait_until(lambda: _ledger(engine) == 3, timeout=30, what="three calls in the ledger")


async def _burst(urls: list[str], key: str, n: int) -> list[int]:
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(i: int) -> int:
            url = urls[i % len(urls)] + "/books/v1/slow?s=0.2"
            return (await client.get(url, headers={"apikey": key})).status_code

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def test_two_gateways_sharing_redis_hold_the_budget_under_a_burst(
    tmp_path: Path, engine: Engine, upstream: Upstream, private_redis: PrivateRedis
) -> None:
    key = _budgeted(engine, upstream, "0.10")
    env = _env(engine, redis_url=private_redis.url, upstream_timeout_s="10")
    gateways: list[TollwayGateway] = []
    try:
        for i in range(2):
            gateways.append(TollwayGateway(tmp_path / f"gw{i}", workers=2, **env))
        codes = Counter(asyncio.run(_burst([gw.url for gw in gateways], key, 60)))
    finally:
        exits = [gw.terminate() for gw in gateways]
    assert exits == [0, 0]
    # Redis counts every admission atomically: the documented overshoot is zero.
    assert codes == Counter({200: 5, 402: 55}), codes
    wait_until(lambda: _ledger(engine) == 5, timeout=30, what="five calls in the ledger")
