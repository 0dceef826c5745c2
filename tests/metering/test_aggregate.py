"""Folding events into aggregates: each metric, windows, split-and-merge == whole."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.rows import T0
from tests.support.rows import usage_event as ev
from tollway.domain.periods import BillingInterval, Period, period_containing
from tollway.metering.aggregate import (
    Aggregate,
    AggregateKey,
    AggregateTable,
    BillingPeriods,
    FixedWindows,
    SingleWindow,
    Windowing,
    fold,
    merge,
)
from tollway.metering.events import UsageEvent
from tollway.metering.meters import DEFAULT_METER, Aggregation, MeterDefinition, parse_meter

D = Decimal
DAY = 86_400_000


def meter(agg: str, field: str | None = None, **flt: object) -> MeterDefinition:
    metric = {"aggregation": agg} | ({"field": field} if field else {})
    return parse_meter({"key": f"m_{agg}", "metric": metric, "filter": flt or None})


WHOLE = SingleWindow(T0)
EVENTS = [
    ev(1, latency_ms=30, usage_value=5, credential_id="k1"),
    ev(2, latency_ms=90, usage_value="2.5", credential_id="k2"),
    ev(3, latency_ms=20, credential_id="k1"),
    ev(4, latency_ms=500, status=500, usage_value=100, credential_id="k9"),  # not 2xx
    ev(5, latency_ms=40, subscription_id="sub_2", credential_id="k3", usage_value=1),
]


@pytest.mark.parametrize(
    ("m", "sub1", "sub2"),
    [
        (DEFAULT_METER, D(3), D(1)),
        (meter("sum", "latency_ms"), D(140), D(40)),
        (meter("sum", "usage_value"), D("7.5"), D(1)),
        (meter("max", "latency_ms"), D(90), D(40)),
        (meter("last", "latency_ms"), D(20), D(40)),
        (meter("distinct", "credential_id"), D(2), D(1)),
    ],
)
def test_each_metric(m: MeterDefinition, sub1: Decimal, sub2: Decimal) -> None:
    t = fold(m, EVENTS, WHOLE)
    assert t.value("sub_1", m.key, T0) == sub1
    assert t.value("sub_2", m.key, T0) == sub2
    assert t.value("sub_3", m.key, T0) == 0


def test_usage_value_sum_skips_events_without_value_and_counts_events() -> None:
    m = meter("sum", "usage_value")
    t = fold(m, EVENTS, WHOLE)
    agg = t.get("sub_1", m.key, T0)
    assert agg is not None and agg.events == 2 and agg.value == D("7.5")


def test_status_filter_null_counts_errors() -> None:
    m = meter("count", status_classes=None)
    assert fold(m, EVENTS, WHOLE).value("sub_1", m.key, T0) == 4
    m5 = meter("count", status_classes=[5])
    assert fold(m5, EVENTS, WHOLE).value("sub_1", m5.key, T0) == 1
    mf = meter("count", methods=["POST"])
    assert len(fold(mf, EVENTS, WHOLE)) == 0


def test_fixed_windows() -> None:
    events = [ev(i, timestamp_ms=T0 + i * 3_600_000 // 2) for i in range(6)]  # every 30 min
    t = fold(DEFAULT_METER, events, FixedWindows(3_600_000))
    assert sorted((k.window_start_ms - T0) // 3_600_000 for k in t) == [0, 1, 2]
    assert all(a.value == 2 for a in t.items.values())
    t2 = fold(DEFAULT_METER, events, FixedWindows(3_600_000, origin_ms=T0 + 1_800_000))
    assert sorted(a.events for a in t2.items.values()) == [1, 1, 2, 2]
    # a batch inside one window takes the fast path and agrees
    one = fold(DEFAULT_METER, events[:2], FixedWindows(3_600_000))
    assert one.value("sub_1", "requests", T0) == 2


def test_billing_periods_windows() -> None:
    anchors = {"sub_1": (datetime(2025, 12, 31, tzinfo=UTC), BillingInterval.MONTH)}
    w = BillingPeriods(anchors)
    jan31 = int(datetime(2026, 1, 31, tzinfo=UTC).timestamp() * 1000)
    events = [ev(i, timestamp_ms=jan31 - 2 + i) for i in range(4)]  # 2 before, 2 after
    t = fold(DEFAULT_METER, events, w)
    assert t.value("sub_1", "requests", T0 - DAY) == 2
    assert t.value("sub_1", "requests", jan31) == 2
    assert w.period_of("sub_1", jan31) == Period(
        datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC)
    )
    with pytest.raises(KeyError):
        fold(DEFAULT_METER, [ev(9, subscription_id="nobody")], w)


def test_merge_aggregates_and_tables() -> None:
    m = meter("distinct", "credential_id")
    a = fold(m, EVENTS[:2], WHOLE)
    b = fold(m, EVENTS[2:], WHOLE)
    whole = fold(m, EVENTS, WHOLE)
    assert merge(a, b) == whole
    assert merge(b, a) == whole
    assert len(a) == 1  # inputs unchanged
    k = AggregateKey("sub_1", m.key, T0)
    assert merge(a[k], b[k]) == whole[k]
    with pytest.raises(ValueError):
        Aggregate(Aggregation.SUM).merge_in(Aggregate(Aggregation.MAX))
    with pytest.raises(TypeError):
        merge(a, a[k])  # type: ignore[call-overload]


def test_rows_round_trip() -> None:
    for m in [DEFAULT_METER, meter("sum", "usage_value"), meter("last", "latency_ms"),
              meter("distinct", "consumer_id"), meter("max", "request_bytes")]:  # fmt: skip
        t = fold(m, EVENTS, FixedWindows(2))
        rows = json.loads(json.dumps(t.to_rows()))
        assert AggregateTable.from_rows(rows) == t


# ------------------------------------------------------------------ properties

SUBS = ["sub_a", "sub_b", "sub_c"]
ANCHORS = {
    "sub_a": (datetime(2026, 1, 31, 12, tzinfo=UTC), BillingInterval.MONTH),
    "sub_b": (datetime(2026, 1, 1, tzinfo=UTC), BillingInterval.DAY),
    "sub_c": (datetime(2025, 11, 15, 7, 30, tzinfo=UTC), BillingInterval.WEEK),
}

event_st = st.builds(
    lambda i, ts, sub, status, lat, uv, cred: ev(
        0,
        event_id=f"ue_{i}",
        timestamp_ms=T0 + ts,
        subscription_id=sub,
        status=status,
        latency_ms=lat,
        usage_value=uv,
        credential_id=cred,
    ),
    st.integers(0, 10**9),
    st.integers(0, 90 * DAY),
    st.sampled_from(SUBS),
    st.sampled_from([200, 201, 204, 400, 404, 500]),
    st.integers(0, 5000),
    st.one_of(st.none(), st.decimals(0, 10**6, places=3, allow_nan=False)),
    st.sampled_from(["k1", "k2", "k3", "k4"]),
)


def unique(events: list[UsageEvent]) -> list[UsageEvent]:
    seen: dict[str, UsageEvent] = {}
    for e in events:
        seen.setdefault(e.event_id, e)
    return list(seen.values())


METERS = [
    DEFAULT_METER,
    meter("count", status_classes=None),
    meter("sum", "usage_value"),
    meter("sum", "response_bytes"),
    meter("max", "latency_ms"),
    meter("last", "latency_ms"),
    meter("last", "usage_value"),
    meter("distinct", "credential_id"),
]


def windowings() -> st.SearchStrategy[str]:
    return st.sampled_from(["hour", "day7", "periods", "single"])


def make_windows(kind: str) -> Windowing:
    makers: dict[str, Callable[[], Windowing]] = {
        "hour": lambda: FixedWindows(3_600_000),
        "day7": lambda: FixedWindows(7 * DAY, origin_ms=12345),
        "periods": lambda: BillingPeriods(ANCHORS),
        "single": lambda: SingleWindow(T0),
    }
    return makers[kind]()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(event_st, max_size=80).map(unique),
    st.lists(st.integers(0, 80), max_size=5),
    st.sampled_from(METERS),
    windowings(),
    st.randoms(use_true_random=False),
)
def test_split_and_merge_equals_whole(
    events: list[UsageEvent], cuts: list[int], m: MeterDefinition, wk: str, rnd: random.Random
) -> None:
    whole = fold(m, events, make_windows(wk))
    # split into parts (in a shuffled order), fold each separately, merge in any order
    shuffled = list(events)
    rnd.shuffle(shuffled)
    bounds = sorted({0, len(shuffled), *(c for c in cuts if c <= len(shuffled))})
    parts = [shuffled[a:b] for a, b in zip(bounds, bounds[1:])]
    tables = [fold(m, p, make_windows(wk)) for p in parts]
    rnd.shuffle(tables)
    merged = AggregateTable()
    for t in tables:
        merged = merge(merged, t)
    assert merged == whole
    # incremental: folding the parts one after another into one table is the same too
    inc = AggregateTable()
    w = make_windows(wk)
    for p in parts:
        fold(m, p, w, into=inc)
    assert inc == whole


@settings(max_examples=150, deadline=None)
@given(st.lists(event_st, max_size=120).map(unique), st.sampled_from(METERS), windowings())
def test_fold_matches_a_naive_reference(
    events: list[UsageEvent], m: MeterDefinition, wk: str
) -> None:
    windows = make_windows(wk)
    table = fold(m, events, windows)
    expected: dict[AggregateKey, list[UsageEvent]] = {}
    for e in events:
        if not m.matches(e):
            continue
        if wk == "periods":
            a, iv = ANCHORS[e.subscription_id]
            at = Period.from_ms(e.timestamp_ms, e.timestamp_ms + 1).start
            start = period_containing(a, iv, at).start_ms
        else:
            start = windows.window_start(e.subscription_id, e.timestamp_ms)
        expected.setdefault(AggregateKey(e.subscription_id, m.key, start), []).append(e)
    assert set(table) == set(expected)
    for k, evs in expected.items():
        agg = table[k]
        assert agg.events == len(evs)
        if m.aggregation is Aggregation.COUNT:
            want = D(len(evs))
        elif m.aggregation is Aggregation.DISTINCT:
            want = D(len({getattr(e, m.field.value) for e in evs}))  # type: ignore[union-attr]
        else:
            vals = [getattr(e, m.field.value) for e in evs]  # type: ignore[union-attr]
            if m.aggregation is Aggregation.SUM:
                want = D(sum(vals))
            elif m.aggregation is Aggregation.MAX:
                want = D(max(vals))
            else:
                last = max(evs, key=lambda e: (e.timestamp_ms, e.event_id))
                want = D(getattr(last, m.field.value))  # type: ignore[union-attr]
        assert agg.value == want


def test_billing_periods_paths_agree() -> None:
    """Whole-batch, partly-split and mostly-split grouping give the same answer."""
    import random

    rnd = random.Random(1)
    anchors = {
        f"s{i}": (datetime(2026, 1, 1 + i % 28, i % 24, tzinfo=UTC), "month") for i in range(200)
    }
    events = [
        ev(
            i,
            subscription_id=f"s{rnd.randrange(200)}",
            timestamp_ms=T0 + 40 * DAY + rnd.randrange(60 * DAY),
        )
        for i in range(5000)
    ]
    events.sort(key=lambda e: e.timestamp_ms)
    ref = AggregateTable()
    for e in events:  # one event per batch: the simplest path
        fold(DEFAULT_METER, [e], BillingPeriods(anchors), into=ref)
    for batch in (7, 100, 1000, 5000):
        w = BillingPeriods(anchors)
        t = AggregateTable()
        for i in range(0, len(events), batch):
            fold(DEFAULT_METER, events[i : i + batch], w, into=t)
        assert t == ref, batch
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert fold(DEFAULT_METER, shuffled, BillingPeriods(anchors)) == ref


def test_fold_accepts_any_iterable_and_several_meters() -> None:
    m = meter("sum", "latency_ms")
    t = fold([DEFAULT_METER, m], (e for e in EVENTS), WHOLE)
    assert t.value("sub_1", "requests", T0) == 3
    assert t.value("sub_1", m.key, T0) == 140
