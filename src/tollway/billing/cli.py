"""``tollway reconcile``: print every difference between the ledger and Stripe."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tollway.billing.wiring import runtime_of
from tollway.workers.reconcile import reconcile


def reconcile_main(settings: Any = None, *, ctx: Any = None, out: TextIO | None = None) -> int:
    """Compare ledger totals with Stripe's meter event summaries per subscription, meter
    and period. Prints every difference; returns the exit code (1 if any, else 0)."""
    stream = out or sys.stdout
    if ctx is None:
        from tollway.runtime import build_context
        from tollway.settings import load_settings

        ctx = build_context(settings or load_settings(), migrate=False)
    rt = runtime_of(ctx)
    lines = reconcile(ctx.engine, rt.engines, clock=ctx.clock)
    differences = [ln for ln in lines if ln.differs]
    for ln in differences:
        print(f"DIFF {ln.describe()}", file=stream)
    print(
        f"{len(lines)} subscription period(s) compared, {len(differences)} difference(s)",
        file=stream,
    )
    return 1 if differences else 0


def publish_usage_main(settings: Any = None, *, ctx: Any = None, out: TextIO | None = None) -> int:
    """``tollway publish-usage``: push all usage to Stripe now (open windows included)."""
    stream = out or sys.stdout
    if ctx is None:
        from tollway.runtime import build_context
        from tollway.settings import load_settings

        ctx = build_context(settings or load_settings(), migrate=False)
    result = runtime_of(ctx).usage.flush()
    print(
        f"pushed {result.pushed} meter event(s), {result.value_pushed} unit(s); "
        f"{len(result.errors)} error(s)",
        file=stream,
    )
    for err in result.errors:
        print(f"ERROR {err}", file=stream)
    return 1 if result.errors else 0
