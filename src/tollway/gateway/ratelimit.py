"""Rate limits and period quotas.

Algorithm: **GCRA** (generic cell rate algorithm, the "virtual scheduling" form of a
leaky bucket). A plan allowing ``N`` calls per period ``P`` has an emission interval
``T = P / N`` and a burst tolerance of ``P - T``: at most ``N`` calls are admitted in
any burst, and after that one more every ``T``. The state is a single number per
subscription, the theoretical arrival time (TAT), so the check is one atomic
read-modify-write: a dictionary entry in-process, a Lua script in Redis.

Quotas count admitted calls per subscription and billing period (the period comes
from the subscription's billing anchor and the plan's interval). A ``hard`` quota
refuses calls past the limit; an ``overage`` plan is never refused (the excess is
billed). The count starts from the calls already in the usage ledger when the
snapshot was loaded. Refused calls consume neither the rate nor the quota.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from tollway.domain.periods import period_containing
from tollway.gateway.snapshot import Plan, Snapshot, Subscription

log = logging.getLogger("tollway.gateway.ratelimit")

UNIT_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


class Decision(NamedTuple):  # a tuple: built on every call, so cheap to construct
    allowed: bool
    limit: int  # 0 when the plan has no rate limit
    remaining: int
    reset_s: int  # seconds until the limit is fully available again
    retry_after_s: int = 0
    reason: str = ""  # "rate" | "quota" | "unavailable" when refused


ALLOW_UNLIMITED = Decision(True, 0, 0, 0)


class PeriodCache:
    """Billing period of each subscription, recomputed only when it ends."""

    __slots__ = ("_periods",)

    def __init__(self) -> None:
        self._periods: dict[str, tuple[int, int]] = {}

    def period(self, sub: Subscription, plan: Plan, now_s: float) -> tuple[int, int]:
        cached = self._periods.get(sub.id)
        if cached is not None and cached[0] <= now_s < cached[1]:
            return cached
        p = period_containing(
            sub.billing_anchor, plan.billing_interval, datetime.fromtimestamp(now_s, UTC)
        )
        out = (int(p.start.timestamp()), int(p.end.timestamp()))
        if len(self._periods) > 100_000:
            self._periods.clear()
        self._periods[sub.id] = out
        return out


class RateLimiter(Protocol):
    is_async: bool

    def use(self, snapshot: Snapshot) -> None: ...

    def check(self, sub: Subscription, plan: Plan, now_s: float) -> Decision: ...

    async def check_async(self, sub: Subscription, plan: Plan, now_s: float) -> Decision: ...

    async def close(self) -> None: ...


def _gcra_params(plan: Plan) -> tuple[float, float] | None:
    if not plan.rate_limit_count or not plan.rate_limit_unit:
        return None
    period = UNIT_SECONDS.get(plan.rate_limit_unit)
    if period is None:
        return None
    return period / plan.rate_limit_count, period


def unlimited(plan: Plan) -> bool:
    """No rate limit and no hard quota: every call is allowed without consulting a store."""
    return _gcra_params(plan) is None and plan.hard_quota is None


def _decision(
    allowed: bool, limit: int, tat: float, now: float, t: float, period: float, reason: str = ""
) -> Decision:
    remaining = max(0, math.floor((now + period - tat) / t + 1e-9)) if limit else 0
    reset = max(0, math.ceil(tat - now)) if limit else 0
    retry = 0
    if not allowed:
        retry = max(1, math.ceil(tat + t - period - now))
    return Decision(allowed, limit, min(remaining, limit), reset, retry, reason)


class LocalRateLimiter:
    """In-process GCRA and quota counters (the embedded single-process default)."""

    is_async = False

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._quota: dict[tuple[str, int], int] = {}
        self._periods = PeriodCache()
        self._snapshot = Snapshot()

    def use(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def check(self, sub: Subscription, plan: Plan, now_s: float) -> Decision:
        gcra = _gcra_params(plan)
        hard = plan.hard_quota
        if gcra is None and hard is None:
            return ALLOW_UNLIMITED
        qkey: tuple[str, int] | None = None
        used = 0
        if hard is not None:
            start, end = self._periods.period(sub, plan, now_s)
            qkey = (sub.id, start)
            used = self._quota.get(qkey, -1)
            if used < 0:
                used = self._snapshot.quota_used.get(qkey, 0)
            if used >= hard:
                return Decision(False, 0, 0, 0, max(1, math.ceil(end - now_s)), "quota")
        limit = 0
        tat = now_s
        t = period = 1.0
        if gcra is not None:
            t, period = gcra
            limit = plan.rate_limit_count or 0
            tat = max(self._tat.get(sub.id, now_s), now_s)
            new_tat = tat + t
            if new_tat - period > now_s + 1e-9:
                return _decision(False, limit, tat, now_s, t, period, "rate")
            self._tat[sub.id] = tat = new_tat
        if qkey is not None:
            self._quota[qkey] = used + 1
        return _decision(True, limit, tat, now_s, t, period)

    async def check_async(self, sub: Subscription, plan: Plan, now_s: float) -> Decision:
        return self.check(sub, plan, now_s)

    async def close(self) -> None:
        return None


# KEYS: rate key, quota key. ARGV: now_us, T_us, P_us, quota limit (-1: none),
# quota base, quota key ttl (s). Returns {allowed, reason(0 rate/1 quota), tat_us, used}.
_LUA = """
local now = tonumber(ARGV[1])
local t = tonumber(ARGV[2])
local p = tonumber(ARGV[3])
local qlimit = tonumber(ARGV[4])
local used = 0
if qlimit >= 0 then
  used = tonumber(redis.call('GET', KEYS[2]) or ARGV[5])
  if used >= qlimit then return {0, 1, 0, used} end
end
local tat = now
if t > 0 then
  tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now then tat = now end
  local newtat = tat + t
  if newtat - p > now then return {0, 0, tat - now, used} end
  tat = newtat
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
if qlimit >= 0 then
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('SET', KEYS[2], ARGV[5], 'EX', tonumber(ARGV[6]))
  end
  used = redis.call('INCR', KEYS[2])
end
return {1, 0, tat - now, used}
"""


class RedisRateLimiter:
    """GCRA and quotas shared by every gateway process through one Lua script."""

    is_async = True

    def __init__(self, url: str, *, failure_mode: str = "open", on_error: Any = None) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=0
        )
        self._script = self._redis.register_script(_LUA)
        self._failure_mode = failure_mode
        self._on_error = on_error
        self._down_until = 0.0
        self._last_log = 0.0
        self._periods = PeriodCache()
        self._snapshot = Snapshot()

    def use(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def check(self, sub: Subscription, plan: Plan, now_s: float) -> Decision:
        raise RuntimeError("RedisRateLimiter is asynchronous; use check_async")

    def _failed(self, exc: BaseException | None) -> Decision:
        mono = time.monotonic()
        self._down_until = mono + 1.0
        if self._on_error is not None:
            self._on_error()
        if mono - self._last_log > 5.0:
            self._last_log = mono
            log.warning(
                "rate-limit store unavailable, failing %s",
                self._failure_mode,
                extra={"error": type(exc).__name__ if exc else "circuit-open"},
            )
        if self._failure_mode == "closed":
            return Decision(False, 0, 0, 0, 1, "unavailable")
        return ALLOW_UNLIMITED

    async def check_async(self, sub: Subscription, plan: Plan, now_s: float) -> Decision:
        gcra = _gcra_params(plan)
        hard = plan.hard_quota
        if gcra is None and hard is None:
            return ALLOW_UNLIMITED
        if time.monotonic() < self._down_until:
            return self._failed(None)
        t, period = gcra if gcra is not None else (0.0, 0.0)
        qlimit, base, ttl, qkey = -1, 0, 1, "tollway:q:none"
        end = now_s
        if hard is not None:
            start, end = self._periods.period(sub, plan, now_s)
            qlimit = hard
            base = self._snapshot.quota_used.get((sub.id, start), 0)
            ttl = max(1, end - int(now_s) + 86400)
            qkey = f"tollway:q:{sub.id}:{start}"
        args = [int(now_s * 1e6), int(t * 1e6), int(period * 1e6), qlimit, base, ttl]
        try:
            res = await self._script(keys=[f"tollway:rl:{sub.id}", qkey], args=args)
        except Exception as exc:
            return self._failed(exc)
        allowed, reason, tat_rel_us, _used = (int(x) for x in res)
        limit = (plan.rate_limit_count or 0) if gcra is not None else 0
        if not allowed and reason == 1:
            return Decision(False, 0, 0, 0, max(1, math.ceil(end - now_s)), "quota")
        tat = now_s + tat_rel_us / 1e6
        if gcra is None:
            return Decision(True, 0, 0, 0)
        return _decision(bool(allowed), limit, tat, now_s, t, period, "" if allowed else "rate")

    async def close(self) -> None:
        await self._redis.aclose()
