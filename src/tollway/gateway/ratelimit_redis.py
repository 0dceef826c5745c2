"""Rate limits and quotas shared by every gateway process through Redis.

One Lua script does the GCRA step and the quota count atomically (``_LUA``). Checks
are **pipelined**: the checks made while a round trip is under way wait for it and then
go together in the next one, over a single connection. So concurrency never needs more
connections (a burst of thousands of calls costs a handful of round trips), and running
short of local connections can never be mistaken for "Redis is down". Only a failed
connection or a reply later than ``timeout_s`` counts as the store being unavailable;
the calls of that round trip then follow the failure mode (``open`` admits, ``closed``
answers 503) and the store is not asked again for a second. Commands are not retried,
so a script that ran once is never run twice.

A hard quota's counter that does not exist (a new period, or Redis lost its keys) is
seeded from ``QuotaUsage``: the ledger, the unflushed spool and the calls in flight —
never from a snapshot. Calls of the subscription wait for the seed, once per process.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from tollway.gateway.quota_usage import QuotaUsage
from tollway.gateway.ratelimit import (
    ALLOW_UNLIMITED,
    Decision,
    PeriodCache,
    call_cap,
    gcra_decision,
    gcra_params,
    quota_allowance,
    quota_refusal,
)
from tollway.gateway.snapshot import Plan, Snapshot, Subscription

log = logging.getLogger("tollway.gateway.ratelimit")

# KEYS: rate key, quota key. ARGV: now_us, T_us, P_us, quota limit (-1: none), quota key
# ttl (s), seed for a missing quota counter (-1: none). Returns {allowed, reason (0 rate,
# 1 quota), tat - now (us), used}; allowed = -1 when the quota counter is missing and no
# seed was given.
_LUA = """
local now = tonumber(ARGV[1])
local t = tonumber(ARGV[2])
local p = tonumber(ARGV[3])
local qlimit = tonumber(ARGV[4])
local used = 0
if qlimit >= 0 then
  local current = redis.call('GET', KEYS[2])
  if not current then
    local seed = tonumber(ARGV[6])
    if seed < 0 then return {-1, 1, 0, 0} end
    redis.call('SET', KEYS[2], seed, 'EX', tonumber(ARGV[5]))
    current = seed
  end
  used = tonumber(current)
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
  used = redis.call('INCR', KEYS[2])
end
return {1, 0, tat - now, used}
"""
_SHA = hashlib.sha1(_LUA.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1
MAX_BATCH = 1000
COOL_DOWN_S = 1.0


class StoreUnavailable(Exception):
    pass


class RedisRateLimiter:
    """GCRA and quotas shared by every gateway process (see the module docstring)."""

    is_async = True

    def __init__(
        self,
        url: str,
        *,
        failure_mode: str = "open",
        on_error: Callable[[], None] | None = None,
        usage: QuotaUsage | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            health_check_interval=0,
            retry=Retry(NoBackoff(), 0),
            max_connections=8,
        )
        self.usage = usage
        self._failure_mode = failure_mode
        self._on_error = on_error
        self._down_until = 0.0
        self._last_log = 0.0
        self._periods = PeriodCache()
        self._snapshot = Snapshot()
        self._pending: list[tuple[list[Any], asyncio.Future[list[int]]]] = []
        self._sender: asyncio.Task[None] | None = None
        self._seeding: dict[str, asyncio.Future[int]] = {}

    def use(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def check(self, sub: Subscription, plan: Plan, now_s: float) -> Decision:
        raise RuntimeError("RedisRateLimiter is asynchronous; use check_async")

    # --- failure ------------------------------------------------------------------
    def _failed(self, exc: BaseException | None, *, store_down: bool = True) -> Decision:
        mono = time.monotonic()
        if exc is not None and store_down:
            self._down_until = mono + COOL_DOWN_S
        if self._on_error is not None:
            self._on_error()
        if mono - self._last_log > 5.0:
            self._last_log = mono
            log.warning(
                "rate-limit store unavailable, failing %s",
                self._failure_mode,
                extra={"error": repr(exc) if exc else "cooling-down"},
            )
        if self._failure_mode == "closed":
            return Decision(False, 0, 0, 0, 1, "unavailable")
        return ALLOW_UNLIMITED

    # --- pipelining ---------------------------------------------------------------
    async def _run(self, args: list[Any]) -> list[int]:
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._pending.append((args, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_all())
        return await future

    async def _send_all(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                results = await self._round_trip([args for args, _ in batch])
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(StoreUnavailable(repr(result)))
                    else:
                        future.set_result([int(x) for x in result])
        finally:
            self._sender = None

    async def _pipeline(self, calls: list[list[Any]]) -> list[Any]:
        """One round trip; a failure of the whole round trip is every call's result."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for args in calls:
                    pipe.evalsha(_SHA, 2, *args)
                results: list[Any] = await pipe.execute(raise_on_error=False)
                return results
        except Exception as exc:
            return [exc] * len(calls)

    async def _round_trip(self, calls: list[list[Any]]) -> list[Any]:
        """Run the checks; those that failed because Redis forgot the script (a restart)
        or because the connection broke (a restart, an idle connection cut) run once more
        on a fresh connection. A connection cut after Redis ran a script may count that
        call twice: stricter, never more admitted. Timeouts are not retried."""
        results = await self._pipeline(calls)
        reconnected = False
        for _ in range(2):  # e.g. a cut connection, then a fresh Redis without the script
            redo = [
                i
                for i, r in enumerate(results)
                if isinstance(r, NoScriptError)
                or (not reconnected and isinstance(r, (RedisConnectionError, ConnectionError)))
            ]
            if not redo:
                break
            reconnected = reconnected or any(
                not isinstance(results[i], NoScriptError) for i in redo
            )
            if any(isinstance(results[i], NoScriptError) for i in redo):
                try:
                    await self._redis.script_load(_LUA)
                except Exception as exc:
                    return [exc if i in redo else r for i, r in enumerate(results)]
            again = await self._pipeline([calls[i] for i in redo])
            for i, result in zip(redo, again, strict=True):
                results[i] = result
        return results

    # --- the check ----------------------------------------------------------------
    async def _seed(self, sub: Subscription, start: int, end: int) -> int:
        """The used count of a missing quota counter; one computation per key at a time."""
        key = f"{sub.id}:{start}"
        running = self._seeding.get(key)
        if running is not None:
            return await asyncio.shield(running)
        if self.usage is None:
            raise StoreUnavailable("no usage source to seed the quota from")
        future = asyncio.ensure_future(self.usage.used(sub.id, start, end))
        self._seeding[key] = future
        try:
            return await future
        finally:
            self._seeding.pop(key, None)

    async def check_async(self, sub: Subscription, plan: Plan, now_s: float) -> Decision:
        gcra = gcra_params(plan)
        hard, cap_reason = call_cap(sub, plan)
        if gcra is None and hard is None:
            return ALLOW_UNLIMITED
        if time.monotonic() < self._down_until:
            return self._failed(None)
        t, period = gcra if gcra is not None else (0.0, 0.0)
        qlimit, ttl, qkey = -1, 1, "tollway:q:none"
        start = end = 0
        if hard is not None:
            start, end = self._periods.period(sub, plan, now_s)
            qlimit = hard
            ttl = max(1, end - int(now_s) + 86400)
            qkey = f"tollway:q:{sub.id}:{start}"
        args = [f"tollway:rl:{sub.id}:{plan.id}", qkey, int(now_s * 1e6), int(t * 1e6)]
        args += [int(period * 1e6), qlimit, ttl, -1]
        try:
            allowed, reason, tat_rel_us, used = await self._run(args)
            if allowed < 0:  # the quota counter is missing: seed it from the ledger
                try:
                    args[-1] = await self._seed(sub, start, end)
                except Exception as exc:  # the ledger cannot be read: Redis is fine
                    return self._failed(exc, store_down=False)
                allowed, reason, tat_rel_us, used = await self._run(args)
        except StoreUnavailable as exc:
            return self._failed(exc)
        if hard is not None and reason == 1 and not allowed:
            return quota_refusal(hard, end, now_s, cap_reason, used)
        if gcra is None:
            assert hard is not None
            return quota_allowance(hard, used, end, now_s)
        limit = plan.rate_limit_count or 0
        tat = now_s + tat_rel_us / 1e6
        return gcra_decision(
            bool(allowed),
            limit,
            tat,
            now_s,
            t,
            period,
            "" if allowed else "rate",
            used if hard is not None else -1,
        )

    async def close(self) -> None:
        if self._sender is not None:
            await asyncio.gather(self._sender, return_exceptions=True)
        await self._redis.aclose()
