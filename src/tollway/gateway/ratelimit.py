"""Rate limits and period quotas (the in-process limiter; Redis in ``ratelimit_redis``).

Algorithm: **GCRA** (generic cell rate algorithm, the "virtual scheduling" form of a
leaky bucket). A plan allowing ``N`` calls per period ``P`` has an emission interval
``T = P / N`` and a burst tolerance of ``P - T``: at most ``N`` calls are admitted in
any burst, and after that one more every ``T``. The state is a single number per
subscription, the theoretical arrival time (TAT), so the check is one atomic
read-modify-write: a dictionary entry in-process, a Lua script in Redis.

Quotas count admitted calls per subscription and billing period (the period comes
from the subscription's billing anchor and the plan's interval). A ``hard`` quota
refuses calls past the limit; an ``overage`` plan is never refused (the excess is
billed). Refused calls consume neither the rate nor the quota.

Both survive a restart of the process: the snapshot carries, from the usage ledger, the
calls of each subscription in its current billing period (the quota's starting count)
and a theoretical arrival time rebuilt from the calls of the last rate period (see
``rebuilt_tat``), used for a subscription until this process has its own.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

from tollway.domain.periods import period_containing
from tollway.gateway.snapshot import Plan, Snapshot, Subscription

LIFETIME_S = 100 * 366 * 86400  # the "period" of a prepaid balance
UNIT_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}


class Decision(NamedTuple):  # a tuple: built on every call, so cheap to construct
    allowed: bool
    limit: int  # RateLimit-Limit: the rate limit, or the hard quota; 0 = no header
    remaining: int
    reset_s: int  # seconds until the limit is fully available again
    retry_after_s: int = 0
    reason: str = ""  # "rate" | "quota" | "budget" | "unavailable" when refused
    used: int = -1  # calls of the period counted so far (this one included), -1: not counted


ALLOW_UNLIMITED = Decision(True, 0, 0, 0)


class PeriodCache:
    """Billing period of each subscription, recomputed only when it ends."""

    __slots__ = ("_periods",)

    def __init__(self) -> None:
        self._periods: dict[str, tuple[int, int]] = {}

    def period(self, sub: Subscription, plan: Plan, now_s: float) -> tuple[int, int]:
        if sub.budget is not None and sub.budget.prepaid:  # credit: the whole life
            start = int(sub.billing_anchor.timestamp())
            return (start, start + LIFETIME_S)
        cached = self._periods.get(sub.id)
        if cached is not None and cached[0] <= now_s < cached[1]:
            return cached
        p = period_containing(
            sub.billing_anchor,
            plan.billing_interval,
            datetime.fromtimestamp(now_s, UTC),
            count=plan.interval_count,
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


def gcra_params(plan: Plan) -> tuple[float, float] | None:
    """(emission interval T, period P) in seconds, or None without a rate limit."""
    if not plan.rate_limit_count or not plan.rate_limit_unit:
        return None
    period = UNIT_SECONDS.get(plan.rate_limit_unit)
    if period is None:
        return None
    return period / plan.rate_limit_count, period


def unlimited(sub: Subscription, plan: Plan) -> bool:
    """No rate limit, no hard quota and no budget: every call is allowed without
    consulting a store."""
    return gcra_params(plan) is None and plan.hard_quota is None and sub.budget is None


def rebuilt_tat(plan: Plan, calls: int, last_ms: int, now_s: float) -> float | None:
    """A theoretical arrival time for a subscription that made ``calls`` calls in the
    last rate period, the latest at ``last_ms``: never below the true one. (Each
    admitted call moves the TAT by T from at most ``now``, hence ``now + calls·T``; and
    an admitted call at ``t`` leaves it at most ``t + P``.)"""
    params = gcra_params(plan)
    if params is None or calls <= 0:
        return None
    t, period = params
    return min(now_s + calls * t, last_ms / 1000 + period)


def call_cap(sub: Subscription, plan: Plan) -> tuple[int | None, str]:
    """The most calls the subscription may make this period and what sets it: the
    plan's hard quota (``"quota"``) or the consumer's budget (``"budget"``), the lower
    of the two; ``(None, "")`` when neither applies."""
    hard = plan.hard_quota
    budget = sub.budget
    if budget is None or (hard is not None and hard <= budget.calls):
        return hard, "quota"
    return budget.calls, "budget"


def quota_refusal(
    hard: int, end_s: int, now_s: float, reason: str = "quota", used: int = -1
) -> Decision:
    wait = max(1, math.ceil(end_s - now_s))
    return Decision(False, hard, 0, wait, wait, reason, used)


def quota_allowance(hard: int, used: int, end_s: int, now_s: float) -> Decision:
    """An admitted call on a plan whose only limit is the quota (``used`` counts it)."""
    return Decision(True, hard, max(0, hard - used), max(0, math.ceil(end_s - now_s)), 0, "", used)


def gcra_decision(
    allowed: bool,
    limit: int,
    tat: float,
    now: float,
    t: float,
    period: float,
    reason: str = "",
    used: int = -1,
) -> Decision:
    remaining = max(0, math.floor((now + period - tat) / t + 1e-9))
    reset = max(0, math.ceil(tat - now))
    retry = 0
    if not allowed:
        retry = max(1, math.ceil(tat + t - period - now))
    return Decision(allowed, limit, min(remaining, limit), reset, retry, reason, used)


class LocalRateLimiter:
    """In-process GCRA and quota counters (the embedded single-process default)."""

    is_async = False

    def __init__(self) -> None:
        # keyed by subscription and plan: after a plan change the new plan's limit
        # starts from the calls the ledger has for its last rate period (``rate_tat``)
        self._tat: dict[tuple[str, str], float] = {}
        self._quota: dict[tuple[str, int], int] = {}
        self._periods = PeriodCache()
        self._snapshot = Snapshot()

    def use(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def check(self, sub: Subscription, plan: Plan, now_s: float) -> Decision:
        gcra = gcra_params(plan)
        hard, cap_reason = call_cap(sub, plan)
        if gcra is None and hard is None:
            return ALLOW_UNLIMITED
        qkey: tuple[str, int] | None = None
        used = end = 0
        if hard is not None:
            start, end = self._periods.period(sub, plan, now_s)
            qkey = (sub.id, start)
            used = self._quota.get(qkey, -1)
            if used < 0:
                used = self._snapshot.quota_used.get(qkey, 0)
            if used >= hard:
                return quota_refusal(hard, end, now_s, cap_reason, used)
        if gcra is None:
            assert qkey is not None and hard is not None
            self._quota[qkey] = used + 1
            return quota_allowance(hard, used + 1, end, now_s)
        t, period = gcra
        limit = plan.rate_limit_count or 0
        tat = self._tat.get((sub.id, plan.id))
        if tat is None:  # first call in this process: what the ledger says about the period
            tat = self._snapshot.rate_tat.get(sub.id, now_s)
        tat = max(tat, now_s)
        new_tat = tat + t
        if new_tat - period > now_s + 1e-9:
            return gcra_decision(False, limit, tat, now_s, t, period, "rate")
        self._tat[sub.id, plan.id] = new_tat
        if qkey is None:
            return gcra_decision(True, limit, new_tat, now_s, t, period)
        self._quota[qkey] = used + 1
        return gcra_decision(True, limit, new_tat, now_s, t, period, "", used + 1)

    async def check_async(self, sub: Subscription, plan: Plan, now_s: float) -> Decision:
        return self.check(sub, plan, now_s)

    async def close(self) -> None:
        return None
