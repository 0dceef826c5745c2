"""Usage to Stripe, exactly once: crash after the push, 100,000 events, late events,
back-off on 429."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import stripe
from sqlalchemy import func, select

from stripe_emulator.testing import Emulator
from tests.support.rows import World, insert_usage, new_subscription, seed_world
from tests.support.waiting import wait_until
from tollway.store.billing_tables import billing_plans, billing_subscriptions, usage_push_windows

from .helpers import customer_with_clock, pay_checkout, store_keys, sub_state

PAYG = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}}


# Stripe processes meter events asynchronously; these tests read usage back at once.
pytestmark = pytest.mark.usefixtures("immediate_meter_events")


def _active_sub(ctx: Any, emu: Emulator) -> tuple[World, str]:
    w = seed_world(ctx.engine, PAYG)
    store_keys(ctx, w, emu)
    rt = ctx.billing
    sub = new_subscription(ctx.engine, w)
    resp = pay_checkout(rt.service.start_checkout(sub))
    assert resp.status_code == 303
    with ctx.engine.connect() as conn:
        session = conn.execute(select(billing_subscriptions.c.checkout_session_id)).scalar()
    assert rt.service.activate_from_checkout(session) is True
    assert sub_state(ctx.engine, sub) == "active"
    return w, sub


def _stripe_total(ctx: Any, sub: str, start_s: int, end_s: int) -> int:
    rt = ctx.billing
    with ctx.engine.connect() as conn:
        meter_id = conn.execute(select(billing_plans.c.meter_id)).scalar()
        customer = conn.execute(
            select(billing_subscriptions.c.customer_id).where(
                billing_subscriptions.c.subscription_id == sub
            )
        ).scalar()
    org = seed_org(ctx)
    total: int = rt.engines.for_org(org).meter_total(
        meter_id, customer, start_s - start_s % 60, end_s - end_s % 60 + 60
    )
    return total


def seed_org(ctx: Any) -> str:
    from tollway.store.tables import organizations

    with ctx.engine.connect() as conn:
        return str(conn.execute(select(organizations.c.id)).scalar())


def _states(ctx: Any) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(usage_push_windows.c.state, func.count()).group_by(usage_push_windows.c.state)
        ).fetchall()
    return {r[0]: r[1] for r in rows}


def _crash_after_accepted_push(
    settings: Any, emu: Emulator, tmp_path: Path, batch: int = 200
) -> list[str]:
    """Run the usage worker in its own process and SIGKILL it right after Stripe accepted
    its first pushes, before it marked them sent; the identifiers Stripe accepted."""
    marker = tmp_path / "pushed"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.billing.usage_worker_proc",
            str(settings.data_dir),
            settings.resolved_database_url,
            emu.base_url,
            str(marker),
            str(batch),
        ],
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        wait_until(marker.exists, 60, "the worker's first accepted push")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return marker.read_text().split(",")


def test_crash_after_stripe_accepted_before_marked_sent(
    ctx: Any, emu: Emulator, settings: Any, tmp_path: Path, stripe_client: stripe.StripeClient
) -> None:
    w, sub = _active_sub(ctx, emu)
    now_ms = int(time.time() * 1000)
    stamps = [now_ms - 600_000 + i * 1000 for i in range(300)]  # 10 windows of 30
    insert_usage(ctx.engine, w, sub, stamps)
    insert_usage(ctx.engine, w, sub, stamps[:7], status=500)  # not billable (2xx only)
    accepted = _crash_after_accepted_push(settings, emu, tmp_path)
    assert accepted and _states(ctx).get("sent", 0) == 0  # Stripe has them, we never marked
    before = _stripe_total(ctx, sub, stamps[0] // 1000, stamps[-1] // 1000)
    assert before > 0
    events_before = len(emu.runtime.state.meter_events)
    result = ctx.billing.usage.flush()  # the restarted worker
    assert not result.errors
    after = _stripe_total(ctx, sub, stamps[0] // 1000, stamps[-1] // 1000)
    assert after == 300  # the ledger's billable total, to the unit
    assert _states(ctx) == {"sent": _states(ctx)["sent"]}
    # the re-pushed identifiers were dropped by Stripe as duplicates: only new ones counted
    assert len(emu.runtime.state.meter_events) == events_before + (
        _states(ctx)["sent"] - len(accepted)
    )
    if before == 300:
        assert after == before  # everything had been accepted: Stripe's total is unchanged


@pytest.mark.slow
def test_100k_events_match_stripe_to_the_unit(ctx: Any, emu: Emulator) -> None:
    w, sub = _active_sub(ctx, emu)
    now_ms = int(time.time() * 1000)
    start = now_ms - 3 * 3600_000
    n = 100_000
    stamps = [start + (i * 3 * 3600_000) // n for i in range(n)]
    insert_usage(ctx.engine, w, sub, stamps)
    insert_usage(ctx.engine, w, sub, stamps[:1234], status=404)
    usage = ctx.billing.usage
    first = usage.run_once()
    assert not first.errors
    late = [start + 17, start + 61_000, start + 61_001]  # late events in pushed windows
    insert_usage(ctx.engine, w, sub, late)
    second = usage.flush()
    assert not second.errors
    total = _stripe_total(ctx, sub, start // 1000, now_ms // 1000)
    assert total == n + len(late)
    assert first.value_pushed + second.value_pushed == n + len(late)
    assert usage.flush().planned == 0  # nothing left: a third run pushes nothing
    with ctx.engine.connect() as conn:
        corrections = conn.execute(
            select(func.count()).where(usage_push_windows.c.seq > 0)
        ).scalar()
    assert corrections == 2  # two windows got a late correction


def test_rate_limited_pushes_back_off_and_complete(ctx: Any, emu: Emulator) -> None:
    w, sub = _active_sub(ctx, emu)
    now_ms = int(time.time() * 1000)
    stamps = [now_ms - 300_000 + i * 500 for i in range(200)]
    insert_usage(ctx.engine, w, sub, stamps)
    usage = ctx.billing.usage
    slept: list[float] = []
    usage.sleep = slept.append
    emu.rate_limit(4)  # the next four API calls answer 429
    result = usage.flush()
    assert not result.errors
    assert any(s >= 0.5 for s in slept)  # backed off
    assert _stripe_total(ctx, sub, stamps[0] // 1000, stamps[-1] // 1000) == 200


def test_distinct_meter_pushes_period_to_date_value_to_a_last_meter(
    ctx: Any, emu: Emulator, stripe_client: stripe.StripeClient
) -> None:
    from datetime import UTC, datetime

    from tollway.domain.ids import new_id
    from tollway.store.tables import meters

    w = seed_world(
        ctx.engine, {"usage": {"meter": "callers", "model": "unit", "unit_amount": "1.00"}}
    )
    with ctx.engine.begin() as conn:
        conn.execute(
            meters.insert().values(
                id=new_id("mtr"),
                organization_id=w.org_id,
                key="callers",
                definition={
                    "key": "callers",
                    "metric": {"aggregation": "distinct", "field": "credential_id"},
                },
                created_at=datetime.now(UTC),
            )
        )
    store_keys(ctx, w, emu)
    rt = ctx.billing
    sub = new_subscription(ctx.engine, w)
    assert pay_checkout(rt.service.start_checkout(sub)).status_code == 303
    with ctx.engine.connect() as conn:
        session = conn.execute(select(billing_subscriptions.c.checkout_session_id)).scalar()
    rt.service.activate_from_checkout(session)
    meter = stripe_client.v1.billing.meters.list().data[0]
    assert meter.default_aggregation.formula == "last"
    now_ms = int(time.time() * 1000)
    insert_usage(ctx.engine, w, sub, [now_ms + i for i in range(10)])  # one credential
    from tollway.store.tables import usage_events

    with ctx.engine.begin() as conn:  # two more callers
        conn.execute(
            usage_events.update()
            .where(usage_events.c.timestamp_ms == now_ms + 1)
            .values(credential_id="key_2")
        )
        conn.execute(
            usage_events.update()
            .where(usage_events.c.timestamp_ms == now_ms + 2)
            .values(credential_id="key_3")
        )
    assert not rt.usage.flush().errors
    assert _stripe_total(ctx, sub, now_ms // 1000 - 60, now_ms // 1000 + 60) == 3
    assert rt.usage.flush().planned == 0  # unchanged value: nothing pushed
    insert_usage(ctx.engine, w, sub, [now_ms + 50])
    with ctx.engine.begin() as conn:
        conn.execute(
            usage_events.update()
            .where(usage_events.c.timestamp_ms == now_ms + 50)
            .values(credential_id="key_4")
        )
    assert rt.usage.flush().planned == 1
    assert _stripe_total(ctx, sub, now_ms // 1000 - 60, now_ms // 1000 + 60) == 4


def test_usage_is_flushed_before_the_period_closes(ctx: Any, emu: Emulator) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import update

    from tollway.domain.clock import FixedClock
    from tollway.workers.usage_sync import UsageSync

    w, sub = _active_sub(ctx, emu)
    # the middle of the previous minute's window, so "now + 1 s" is still inside it
    # whatever second of the minute the test runs at
    base_ms = (int(time.time() * 1000) // 60_000 - 1) * 60_000 + 20_000
    insert_usage(ctx.engine, w, sub, [base_ms + i for i in range(5)])
    rt = ctx.billing
    clock = FixedClock(datetime.fromtimestamp((base_ms + 1000) / 1000, UTC))  # window open
    usage = UsageSync(ctx.engine, rt.engines, clock=clock)
    assert usage.run_once().planned == 0  # an open window waits...
    with ctx.engine.begin() as conn:  # ...unless the period ends within two windows
        conn.execute(update(billing_subscriptions).values(current_period_end=base_ms // 1000 + 90))
    result = usage.run_once()
    assert result.planned == 1 and result.value_pushed == 5 and not result.errors


def test_two_workers_planning_the_same_window_never_double_bill(ctx: Any, emu: Emulator) -> None:
    from tollway.workers.usage_sync import UsageSync

    w, sub = _active_sub(ctx, emu)
    now_ms = int(time.time() * 1000)
    stamps = [now_ms - 240_000 + i * 1000 for i in range(120)]
    insert_usage(ctx.engine, w, sub, stamps)
    rt = ctx.billing
    first = UsageSync(ctx.engine, rt.engines)
    second = UsageSync(ctx.engine, rt.engines)
    second._planned = lambda *a, **k: {}  # type: ignore[method-assign]  # a stale read
    assert first.run_once().planned > 0
    result = second.flush()  # plans the same windows again: refused by the unique key
    assert result.planned == 0 and not result.errors
    assert _stripe_total(ctx, sub, stamps[0] // 1000, stamps[-1] // 1000) == 120


def test_late_event_after_a_renewal_keeps_the_old_period_cut(ctx: Any, emu: Emulator) -> None:
    from sqlalchemy import update

    w, sub = _active_sub(ctx, emu)
    now_s = int(time.time())
    p = now_s - 600 - (now_s % 60) + 17  # a period boundary 17 s into a minute
    with ctx.engine.begin() as conn:
        conn.execute(
            update(billing_subscriptions).values(
                current_period_start=p, current_period_end=now_s + 3600
            )
        )
    insert_usage(ctx.engine, w, sub, [p * 1000 + d for d in range(-5000, 5000, 1000)])
    usage = ctx.billing.usage
    assert usage.run_once().value_pushed == 10
    with ctx.engine.connect() as conn:
        starts = sorted(conn.execute(select(usage_push_windows.c.window_start_ms)).scalars())
    assert p * 1000 in starts  # the window was cut at the period boundary
    with ctx.engine.begin() as conn:  # renewal: p is no longer the current period's start
        conn.execute(
            update(billing_subscriptions).values(
                current_period_start=now_s - 120, current_period_end=now_s + 3600
            )
        )
    insert_usage(ctx.engine, w, sub, [p * 1000 + 2500])  # late, in the old cut window
    result = usage.run_once()
    assert result.value_pushed == 1 and not result.errors
    assert _stripe_total(ctx, sub, p - 60, p + 60) == 11


def test_crash_then_more_than_24_hours_later_stripe_total_equals_the_ledger(
    ctx: Any, emu: Emulator, settings: Any, tmp_path: Path, stripe_client: stripe.StripeClient
) -> None:
    """Stripe forgets a meter-event identifier after 24 hours: the restarted worker asks
    Stripe what it has instead of repeating the accepted pushes blindly."""
    from tollway.domain.clock import FixedClock

    w = seed_world(ctx.engine, PAYG)
    store_keys(ctx, w, emu)
    now = int(time.time())
    clock, customer = customer_with_clock(stripe_client, ctx.engine, w, now)
    rt = ctx.billing
    sub = new_subscription(ctx.engine, w)
    assert pay_checkout(rt.service.start_checkout(sub)).status_code == 303
    with ctx.engine.connect() as conn:
        session = conn.execute(select(billing_subscriptions.c.checkout_session_id)).scalar()
    assert rt.service.activate_from_checkout(session) is True
    base = (now - 660) // 60 * 60 * 1000
    stamps = [base + i * 2000 for i in range(300)]  # 10 whole minutes of 30 calls
    insert_usage(ctx.engine, w, sub, stamps)
    # the worker dies after Stripe accepted its first four windows
    assert len(_crash_after_accepted_push(settings, emu, tmp_path, batch=4)) == 4
    assert _states(ctx).get("sent", 0) == 0
    before = _stripe_total(ctx, sub, stamps[0] // 1000, stamps[-1] // 1000)
    assert before == 120
    # a day and an hour later (the customer's test clock and Tollway's clock)
    later = now + 25 * 3600
    stripe_client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": later})
    wait_until(
        lambda: stripe_client.v1.test_helpers.test_clocks.retrieve(clock).status == "ready",
        what="the test clock",
    )
    rt.usage.clock = FixedClock(datetime.fromtimestamp(later, UTC))
    result = rt.usage.flush()
    assert not result.errors, result.errors
    assert _stripe_total(ctx, sub, stamps[0] // 1000, stamps[-1] // 1000) == 300
    assert _states(ctx) == {"sent": 10}
    identifiers = [e["identifier"] for e in emu.runtime.state.meter_events]
    assert len(identifiers) == len(set(identifiers)) == 10  # none pushed twice


def test_default_pace_fits_stripe_sandbox_rate_limit(
    ctx: Any, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """With Stripe's sandbox limit on (25 writes/s, meter events included) the worker's
    default pace (20 a second) pushes 60 windows, all accepted. The SDK's own retries are
    off here; a 429 the pace could still meet when the machine stalls a round (two rounds
    landing in one second) is the worker's back-off's to absorb, so the test asserts the
    outcome, not the absence of a 429 (that would be a timing assertion)."""
    from tollway.billing.credentials import StripeEngineProvider
    from tollway.billing.stripe import StripeBillingEngine, make_client
    from tollway.workers.usage_sync import DEFAULT_MAX_RATE, UsageSync

    w, sub = _active_sub(ctx, emu)
    base = (int(time.time()) - 3700) // 60 * 60 * 1000
    stamps = [base + i * 60_000 for i in range(60)]  # one call in each of 60 windows
    insert_usage(ctx.engine, w, sub, stamps)
    provider = StripeEngineProvider(
        ctx.engine,
        ctx.secrets,
        make=lambda key: StripeBillingEngine(
            make_client(key, base_url=emu.base_url, max_network_retries=0)
        ),
    )
    usage = UsageSync(ctx.engine, provider)
    assert usage.max_rate == DEFAULT_MAX_RATE < 25
    emu.configure(rate_limit_per_s=25)
    with caplog.at_level("WARNING", logger="tollway.workers.usage_sync"):
        result = usage.flush()
    assert not result.errors and result.pushed == 60
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) <= 2  # at most a stalled round's worth, never a storm
    emu.configure(rate_limit_per_s=None)
    assert _stripe_total(ctx, sub, stamps[0] // 1000, stamps[-1] // 1000) == 60
