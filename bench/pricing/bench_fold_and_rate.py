"""Benchmark: fold 1,000,000 usage events into aggregates for 10,000 subscriptions,
then rate every subscription's period. Prints events/s and subscriptions rated/s.

    .venv/bin/python bench/pricing/bench_fold_and_rate.py [--events N] [--subs N]
        [--batch N] [--meter count|sum|max|last|distinct|tokens]
        [--windows periods|hourly|single] [--shuffled] [--repeat N]

Event generation happens before the timers start. Single process, single thread; rates
are computed from the process's CPU time (``time.process_time``), i.e. per core, which
stays meaningful on a busy machine; wall-clock times are printed next to them.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tollway.domain.periods import BillingInterval
from tollway.metering.aggregate import (
    AggregateTable,
    BillingPeriods,
    FixedWindows,
    SingleWindow,
)
from tollway.metering.events import UsageEvent
from tollway.metering.meters import DEFAULT_METER, parse_meter
from tollway.pricing.rating import rate
from tollway.pricing.spec import parse_pricing

METERS = {
    "count": DEFAULT_METER,
    "sum": parse_meter(
        {"key": "bytes", "metric": {"aggregation": "sum", "field": "response_bytes"}}
    ),
    "max": parse_meter({"key": "latency", "metric": {"aggregation": "max", "field": "latency_ms"}}),
    "last": parse_meter(
        {"key": "last_latency", "metric": {"aggregation": "last", "field": "latency_ms"}}
    ),
    "distinct": parse_meter(
        {"key": "users", "metric": {"aggregation": "distinct", "field": "credential_id"}}
    ),
    "tokens": parse_meter(
        {"key": "tokens", "metric": {"aggregation": "sum", "field": "usage_value"}}
    ),
}

PRICINGS = [
    {"flat_fee": "999.00", "included_units": 50,
     "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"}},
    {"usage": {"meter": "requests", "model": "graduated", "tiers": [
        {"up_to": 10, "unit_amount": "1.00"}, {"up_to": 50, "unit_amount": "0.80"},
        {"up_to": None, "unit_amount": "0.50", "flat_amount": "2.00"}]}},
    {"usage": {"meter": "requests", "model": "volume", "tiers": [
        {"up_to": 100, "unit_amount": "0.10", "flat_amount": "1.00"},
        {"up_to": None, "unit_amount": "0.05"}]}},
    {"flat_fee": "49", "usage": {"meter": "requests", "model": "package",
                                 "unit_amount": "10", "package_size": 1000}},
]  # fmt: skip


def make_events(
    n: int, subs: int, start: datetime, seed: int = 7, shuffled: bool = False
) -> list[UsageEvent]:
    """``n`` events for ``subs`` subscriptions over 27 days from ``start``, in time order
    (as the gateway records them and the ledger replays them) unless ``shuffled``."""
    rnd = random.Random(seed)
    start_ms = int(start.timestamp() * 1000)
    span_ms = 27 * 86_400_000
    stamps = sorted(start_ms + rnd.randrange(span_ms) for _ in range(n))
    if shuffled:
        rnd.shuffle(stamps)
    statuses = [200] * 17 + [201, 404, 500]
    out = []
    for i in range(n):
        s = rnd.randrange(subs)
        out.append(
            UsageEvent(
                event_id=f"ue_{i:012d}",
                timestamp_ms=stamps[i],
                organization_id="org_1",
                api_id=f"api_{s % 7}",
                operation_id=f"op_{s % 3}",
                method="GET",
                status=statuses[i % 20],
                latency_ms=rnd.randrange(1, 900),
                request_bytes=rnd.randrange(100, 2000),
                response_bytes=rnd.randrange(100, 20000),
                application_id=f"app_{s}",
                subscription_id=f"sub_{s:05d}",
                credential_id=f"key_{s}_{i % 5}",
                consumer_id=f"user_{s}",
                environment="production",
                usage_value=Decimal(rnd.randrange(1, 4000)),
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--subs", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--meter", choices=sorted(METERS), default="count")
    ap.add_argument("--windows", choices=["periods", "hourly", "single"], default="periods")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--shuffled", action="store_true", help="events in random time order (a backfill)"
    )
    args = ap.parse_args()

    period_start = datetime(2026, 3, 1, tzinfo=UTC)
    # every subscription has its own anchor; all events fall in each one's March period
    anchors = {
        f"sub_{s:05d}": (datetime(2026, 1, 1 + s % 28, s % 24, tzinfo=UTC), BillingInterval.MONTH)
        for s in range(args.subs)
    }
    t0 = time.perf_counter()
    events = make_events(
        args.events, args.subs, period_start + timedelta(days=1), shuffled=args.shuffled
    )
    batches = [events[i : i + args.batch] for i in range(0, len(events), args.batch)]
    specs = [parse_pricing(p, "USD") for p in PRICINGS]
    print(f"generated {len(events):,} events in {time.perf_counter() - t0:.1f}s (not timed)")

    meter = METERS[args.meter]
    best_fold = best_rate = float("inf")
    for _ in range(args.repeat):
        if args.windows == "periods":
            windows = BillingPeriods(anchors)
        elif args.windows == "hourly":
            windows = FixedWindows(3_600_000)
        else:
            windows = SingleWindow(int(period_start.timestamp() * 1000))
        table = AggregateTable()
        gc.collect()
        gc.disable()
        w0, c0 = time.perf_counter(), time.process_time()
        counted = 0
        for b in batches:
            counted += table.fold(meter, b, windows)
        fold_wall, fold_s = time.perf_counter() - w0, time.process_time() - c0

        # rate every subscription's period (one aggregate per subscription with
        # --windows periods/single; hourly windows are summed per subscription first)
        per_sub: dict[str, Decimal] = {}
        for key, agg in table.items.items():
            per_sub[key.subscription_id] = per_sub.get(key.subscription_id, Decimal(0)) + agg.value
        w0, c0 = time.perf_counter(), time.process_time()
        total = Decimal(0)
        for i, (sub, qty) in enumerate(per_sub.items()):
            total += rate(specs[i % len(specs)], "USD", qty).total
        rate_wall, rate_s = time.perf_counter() - w0, time.process_time() - c0
        gc.enable()
        best_fold = min(best_fold, fold_s)
        best_rate = min(best_rate, rate_s)
        print(
            f"fold: {len(events):,} events ({counted:,} counted by '{meter.key}', "
            f"{len(table):,} aggregates) in {fold_s:.3f}s CPU ({fold_wall:.3f}s wall) = "
            f"{len(events) / fold_s:,.0f} events/s; "
            f"rate: {len(per_sub):,} subscriptions in {rate_s:.3f}s CPU ({rate_wall:.3f}s wall) = "
            f"{len(per_sub) / rate_s:,.0f} subscriptions/s (total billed {total})"
        )
    print(
        f"BEST (CPU time of this process, i.e. per core) meter={args.meter} "
        f"windows={args.windows} batch={args.batch}{' shuffled' if args.shuffled else ''}: "
        f"{len(events) / best_fold:,.0f} events/s folded, "
        f"{len(per_sub) / best_rate:,.0f} subscriptions rated/s"
    )


if __name__ == "__main__":
    main()
