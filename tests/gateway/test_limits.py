"""Rate limits (GCRA) and period quotas, in-process and with Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
from helpers import wait_for

from conftest import ANCHOR
from tollway.gateway.ratelimit import LocalRateLimiter, RedisRateLimiter
from tollway.gateway.snapshot import Plan, Snapshot, Subscription

SUB = Subscription("sub_1", "app_1", "api_1", "plan_1", "usr_1", "active", ANCHOR)


def test_gcra_admits_the_burst_then_one_per_interval():
    lim = LocalRateLimiter()
    plan = Plan("plan_1", "month", 10, "minute", None, "overage")
    now = 1_000_000.0
    decisions = [lim.check(SUB, plan, now) for _ in range(15)]
    assert [d.allowed for d in decisions] == [True] * 10 + [False] * 5
    assert decisions[0].limit == 10 and decisions[0].remaining == 9
    assert decisions[9].remaining == 0
    assert decisions[10].retry_after_s == 6  # one emission interval
    assert not lim.check(SUB, plan, now + 5.9).allowed
    assert lim.check(SUB, plan, now + 6.0).allowed
    assert not lim.check(SUB, plan, now + 6.1).allowed
    # after a full period everything is available again
    assert all(lim.check(SUB, plan, now + 200).allowed for _ in range(10))


def test_hard_quota_counts_per_billing_period():
    lim = LocalRateLimiter()
    lim.use(Snapshot(quota_used={("sub_1", int(ANCHOR.timestamp())): 1}))
    plan = Plan("plan_1", "month", None, None, 3, "hard")
    now = ANCHOR.timestamp() + 3600
    got = [lim.check(SUB, plan, now) for _ in range(4)]
    assert [d.allowed for d in got] == [True, True, False, False]
    assert got[2].reason == "quota"
    feb = datetime(2026, 2, 1, tzinfo=UTC).timestamp()
    assert got[2].retry_after_s == int(feb - now)
    # next period: fresh quota
    assert lim.check(SUB, plan, feb + 1).allowed


def test_overage_plan_is_never_refused_for_quota():
    lim = LocalRateLimiter()
    plan = Plan("plan_1", "month", None, None, 2, "overage")
    assert all(lim.check(SUB, plan, 2e9).allowed for _ in range(10))


def test_429_with_headers_and_refusals_not_billed(make_gateway, catalog):
    catalog.plan = Plan("plan_1", "month", 3, "minute", None, "overage")
    gw = make_gateway(catalog.snapshot())
    with httpx.Client() as client:
        codes = []
        for _ in range(5):
            r = client.get(gw.url + "/books/v1/a", headers={"apikey": catalog.key})
            codes.append(r.status_code)
            if r.status_code == 200:
                assert r.headers["ratelimit-limit"] == "3"
                assert "ratelimit-remaining" in r.headers and "ratelimit-reset" in r.headers
    assert codes == [200, 200, 200, 429, 429]
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["reason"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["ratelimit-remaining"] == "0"
    wait_for(lambda: gw.flush() >= 0 and len(gw.ledger.events) == 3)
    gw.flush()
    assert len(gw.ledger.events) == 3


def test_quota_429(make_gateway, catalog):
    catalog.plan = Plan("plan_1", "month", None, None, 2, "hard")
    gw = make_gateway(catalog.snapshot())
    codes = [
        httpx.get(gw.url + "/books/v1/a", headers={"apikey": catalog.key}).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]


# --- Redis -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_redis_limits_and_failure_modes(make_gateway, catalog, private_redis, mode):
    catalog.plan = Plan("plan_1", "month", 4, "hour", None, "overage")
    limiter_box = {}

    def limiter():
        limiter_box["l"] = RedisRateLimiter(private_redis.url, failure_mode=mode)
        return limiter_box["l"]

    gw = make_gateway(catalog.snapshot(), limiter=None)
    gw.call(_swap_limiter(gw, limiter))
    key = {"apikey": catalog.key}
    codes = [httpx.get(gw.url + "/books/v1/a", headers=key).status_code for _ in range(6)]
    assert codes == [200] * 4 + [429] * 2
    private_redis.stop()
    r = httpx.get(gw.url + "/books/v1/a", headers=key)
    if mode == "open":
        assert r.status_code == 200
        wait_for(lambda: gw.flush() >= 0 and len(gw.ledger.events) == 5)  # still metered
    else:
        assert r.status_code == 503
        assert r.json()["reason"] == "unavailable"
    assert gw.gateway.metrics.limit_store_errors.value >= 1 or mode == "closed"


async def _swap_limiter(gw, factory):
    limiter = factory()
    limiter._on_error = gw.gateway.metrics.limit_store_errors.inc
    gw.gateway.app.limiter = limiter
    limiter.use(gw.gateway.app.snapshot)


def test_redis_quota_is_shared(private_redis):
    import asyncio

    async def run() -> list[bool]:
        a = RedisRateLimiter(private_redis.url)
        b = RedisRateLimiter(private_redis.url)
        plan = Plan("plan_1", "month", None, None, 3, "hard")
        now = time.time()
        out = []
        for lim in (a, b, a, b, a):
            out.append((await lim.check_async(SUB, plan, now)).allowed)
        await a.close()
        await b.close()
        return out

    assert asyncio.run(run()) == [True, True, True, False, False]


def test_unlimited_plan_never_asks_redis(make_gateway, catalog, private_redis):
    """No rate limit and no hard quota: admitted even with the store down and failing closed."""
    catalog.plan = Plan("plan_1", "month", None, None, None, "overage")
    gw = make_gateway(catalog.snapshot(), limiter=None)
    gw.call(_swap_limiter(gw, lambda: RedisRateLimiter(private_redis.url, failure_mode="closed")))
    private_redis.stop()
    key = {"apikey": catalog.key}
    codes = [httpx.get(gw.url + "/books/v1/a", headers=key).status_code for _ in range(3)]
    assert codes == [200] * 3
    assert gw.gateway.metrics.limit_store_errors.value == 0
