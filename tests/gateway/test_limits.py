"""Rate limits (GCRA) and period quotas, in-process and with Redis."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import ANCHOR, Catalog, GatewayThread, MakeGateway, PrivateRedis
from tests.gateway.helpers import wait_for
from tollway.gateway.quota_usage import InFlight, QuotaUsage
from tollway.gateway.ratelimit import LocalRateLimiter, rebuilt_tat
from tollway.gateway.ratelimit_redis import RedisRateLimiter
from tollway.gateway.snapshot import Plan, Snapshot, Subscription

SUB = Subscription("sub_1", "app_1", "api_1", "plan_1", "usr_1", "active", ANCHOR)


def test_gcra_admits_the_burst_then_one_per_interval() -> None:
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


def test_hard_quota_counts_per_billing_period() -> None:
    lim = LocalRateLimiter()
    lim.use(Snapshot(quota_used={("sub_1", int(ANCHOR.timestamp())): 1}))
    plan = Plan("plan_1", "month", None, None, 3, "hard")
    now = ANCHOR.timestamp() + 3600
    got = [lim.check(SUB, plan, now) for _ in range(4)]
    assert [d.allowed for d in got] == [True, True, False, False]
    feb = datetime(2026, 2, 1, tzinfo=UTC).timestamp()
    assert got[2].reason == "quota"
    assert got[2].retry_after_s == int(feb - now)
    # the quota is what RateLimit-* describe for a plan limited only by it
    assert (got[0].limit, got[0].remaining, got[1].remaining) == (3, 1, 0)
    assert (got[2].limit, got[2].remaining, got[2].reset_s) == (3, 0, int(feb - now))
    # next period: fresh quota
    assert lim.check(SUB, plan, feb + 1).allowed


def test_overage_plan_is_never_refused_for_quota() -> None:
    lim = LocalRateLimiter()
    plan = Plan("plan_1", "month", None, None, 2, "overage")
    assert all(lim.check(SUB, plan, 2e9).allowed for _ in range(10))


def test_rebuilt_state_is_never_laxer_than_the_algorithm() -> None:
    """The TAT rebuilt from (calls in the last period, latest call) after a restart is
    at least the one GCRA reached by those calls, whatever their timing."""
    plan = Plan("plan_1", "month", 10, "hour", None, "overage")
    for gaps in ([0.0] * 10, [360.0] * 10, [0.0] * 5 + [700.0] * 3, [100.0, 2000.0, 0.0]):
        lim = LocalRateLimiter()
        now = 1_000_000.0
        calls: list[float] = []
        for gap in gaps:
            now += gap
            if lim.check(SUB, plan, now).allowed:
                calls.append(now)
        later = now + 60
        window = [c for c in calls if c > later - 3600]
        tat = rebuilt_tat(plan, len(window), int(window[-1] * 1000), later)
        true_tat = lim._tat[SUB.id, plan.id]
        assert tat is not None and tat >= true_tat - 1e-6, (gaps, tat, true_tat)


def _get(gw: GatewayThread, key: str) -> httpx.Response:
    return httpx.get(gw.url + "/books/v1/a", headers={"apikey": key})


def test_429_with_headers_and_refusals_not_billed(
    make_gateway: MakeGateway, catalog: Catalog
) -> None:
    catalog.plan = Plan("plan_1", "month", 3, "minute", None, "overage")
    gw = make_gateway(catalog.snapshot())
    responses = [_get(gw, catalog.key) for _ in range(5)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    for r in responses[:3]:
        assert r.headers["ratelimit-limit"] == "3"
        assert "ratelimit-remaining" in r.headers and "ratelimit-reset" in r.headers
    r = responses[-1]
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["reason"] == "rate_limited"
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["ratelimit-remaining"] == "0"
    wait_for(lambda: gw.flush() >= 0 and len(gw.ledger.events) == 3)
    gw.flush()
    assert len(gw.ledger.events) == 3


def _assert_quota_429(r: httpx.Response, quota: int) -> None:
    assert r.status_code == 429
    assert r.json()["reason"] == "quota_exceeded"
    assert r.headers["ratelimit-limit"] == str(quota)
    assert r.headers["ratelimit-remaining"] == "0"
    assert int(r.headers["ratelimit-reset"]) == int(r.headers["retry-after"]) > 0


def test_quota_429_carries_the_ratelimit_headers(
    make_gateway: MakeGateway, catalog: Catalog
) -> None:
    catalog.plan = Plan("plan_1", "month", None, None, 2, "hard")
    gw = make_gateway(catalog.snapshot())
    responses = [_get(gw, catalog.key) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in responses[:2]] == ["1", "0"]
    _assert_quota_429(responses[2], 2)


def test_quota_429_headers_with_a_rate_limit_too(
    make_gateway: MakeGateway, catalog: Catalog
) -> None:
    catalog.plan = Plan("plan_1", "month", 100, "minute", 2, "hard")
    gw = make_gateway(catalog.snapshot())
    responses = [_get(gw, catalog.key) for _ in range(3)]
    assert responses[0].headers["ratelimit-limit"] == "100"  # the rate limit while allowed
    _assert_quota_429(responses[2], 2)


# --- Redis -------------------------------------------------------------------------


def _usage(tmp_path: Path) -> QuotaUsage:
    """Quota seeding from an empty ledger (nothing spooled, nothing in flight)."""
    return QuotaUsage(tmp_path, None, InFlight(), lambda: None)


async def _swap_limiter(gw: GatewayThread, limiter: RedisRateLimiter) -> None:
    limiter._on_error = gw.gateway.metrics.limit_store_errors.inc
    limiter.usage = gw.gateway.quota_usage
    gw.gateway.app.limiter = limiter
    limiter.use(gw.gateway.app.snapshot)


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_redis_limits_and_failure_modes(
    make_gateway: MakeGateway, catalog: Catalog, private_redis: PrivateRedis, mode: str
) -> None:
    catalog.plan = Plan("plan_1", "month", 4, "hour", None, "overage")
    gw = make_gateway(catalog.snapshot(), limiter=None)
    gw.call(_swap_limiter(gw, RedisRateLimiter(private_redis.url, failure_mode=mode)))
    codes = [_get(gw, catalog.key).status_code for _ in range(6)]
    assert codes == [200] * 4 + [429] * 2
    private_redis.stop()
    r = _get(gw, catalog.key)
    if mode == "open":
        assert r.status_code == 200
        wait_for(lambda: gw.flush() >= 0 and len(gw.ledger.events) == 5)
    else:
        assert r.status_code == 503
        assert r.json()["reason"] == "unavailable"
    assert gw.gateway.metrics.limit_store_errors.value >= 1


def test_redis_quota_is_shared_and_reports_headers(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    async def run() -> list[tuple[bool, int, int]]:
        a = RedisRateLimiter(private_redis.url, usage=_usage(tmp_path))
        b = RedisRateLimiter(private_redis.url, usage=_usage(tmp_path))
        plan = Plan("plan_1", "month", None, None, 3, "hard")
        now = time.time()
        out = []
        for lim in (a, b, a, b, a):
            d = await lim.check_async(SUB, plan, now)
            out.append((d.allowed, d.limit, d.remaining))
        await a.close()
        await b.close()
        return out

    assert asyncio.run(run()) == [
        (True, 3, 2),
        (True, 3, 1),
        (True, 3, 0),
        (False, 3, 0),
        (False, 3, 0),
    ]


@pytest.mark.parametrize("kind", ["rate", "quota"])
def test_concurrent_checks_never_exceed_the_limit_nor_fail(
    private_redis: PrivateRedis, tmp_path: Path, kind: str
) -> None:
    """600 checks at once on one limiter: exactly the limit admitted, no store error.
    (A connection per check used to run out of pool connections, which the limiter
    took for Redis being down: it then failed open and admitted everything.)"""
    plan = (
        Plan("plan_1", "month", 30, "hour", None, "overage")
        if kind == "rate"
        else Plan("plan_1", "month", None, None, 30, "hard")
    )
    errors: list[int] = []

    async def run() -> list[bool]:
        lim = RedisRateLimiter(
            private_redis.url,
            failure_mode="closed",
            usage=_usage(tmp_path),
            on_error=lambda: errors.append(1),
        )
        now = time.time()
        decisions = await asyncio.gather(*(lim.check_async(SUB, plan, now) for _ in range(600)))
        await lim.close()
        assert {d.reason for d in decisions} <= {"", kind}
        return [d.allowed for d in decisions]

    allowed = asyncio.run(run())
    assert allowed.count(True) == 30
    assert not errors


def test_unlimited_plan_never_asks_redis(
    make_gateway: MakeGateway, catalog: Catalog, private_redis: PrivateRedis
) -> None:
    """No rate limit and no hard quota: admitted even with the store down and failing closed."""
    catalog.plan = Plan("plan_1", "month", None, None, None, "overage")
    gw = make_gateway(catalog.snapshot(), limiter=None)
    gw.call(_swap_limiter(gw, RedisRateLimiter(private_redis.url, failure_mode="closed")))
    private_redis.stop()
    codes = [_get(gw, catalog.key).status_code for _ in range(3)]
    assert codes == [200] * 3
    assert gw.gateway.metrics.limit_store_errors.value == 0
