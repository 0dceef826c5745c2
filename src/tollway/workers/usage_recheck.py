"""Exactly once beyond Stripe's 24-hour identifier window.

Stripe drops a repeated meter-event identifier only within a rolling 24 hours. A push
planned longer ago than that (``identifier_window_s`` minus a safety margin) may have
been accepted by Stripe in a run that crashed before marking it sent, and Stripe no
longer remembers its identifier: pushing it again blindly would count it twice.

Before such a push is repeated, Stripe's meter event summary for the customer over the
push's window is read and compared with what Tollway knows Stripe has (pushes marked
sent in that range). What Stripe has beyond that belongs to the uncertain pushes:

* nothing: none was accepted, all are pushed;
* exactly the uncertain pushes' total: all were accepted, they are marked sent;
* the total of a subset of them: that subset is marked sent, the rest pushed;
* anything else: nothing is pushed and the window is reported (for an operator).

A push accepted less than the meter lag ago in the same range makes the summary
unreliable (Stripe may not have counted it yet): the check waits for a later run.
``last`` meters (period-to-date values) are pushed again as they are: a repeated last
value changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from itertools import combinations

from tollway.billing.engine import BillingEngine
from tollway.domain.errors import TollwayError
from tollway.metering.usage_windows import floor_to
from tollway.store.billing_repo import Billed
from tollway.store.usage_push_repo import PlannedPush, SentInRange

#: Stripe's documented identifier window (at least a rolling 24 hours).
IDENTIFIER_WINDOW_S = 24 * 3600
#: Pushes older than the window minus this margin are checked before being repeated.
MARGIN_S = 3600
_MAX_SUBSET = 12  # pushes per window searched exhaustively for the accepted subset


def _subset_with_sum(rows: Sequence[PlannedPush], target: int) -> list[PlannedPush] | None:
    if len(rows) > _MAX_SUBSET:
        return None
    for size in range(1, len(rows) + 1):
        for combo in combinations(rows, size):
            if sum(r.value for r in combo) == target:
                return list(combo)
    return None


def recheck(
    sent_in_range: Callable[[str, str, int, int], SentInRange],
    engine: BillingEngine,
    rows: Sequence[PlannedPush],
    billed: dict[tuple[str, str], Billed],
    *,
    now: datetime,
    identifier_window_s: int,
    lag_s: float,
    mark_sent: Callable[[Sequence[str]], None],
    errors: list[str],
) -> list[PlannedPush]:
    """The pending ``rows`` that may be pushed now; those Stripe already has are marked
    sent through ``mark_sent``. Rows planned within the identifier window pass as they
    are (Stripe drops a repeat)."""
    old_before = now - timedelta(seconds=max(identifier_window_s - MARGIN_S, 0))
    settled_before = now - timedelta(seconds=lag_s)
    out: list[PlannedPush] = []
    groups: dict[tuple[str, str, int], list[PlannedPush]] = defaultdict(list)
    for r in rows:
        b = billed.get((r.subscription_id, r.meter_key))
        uncertain = r.created_at is not None and r.created_at <= old_before
        if not uncertain or b is None or b.meter_id is None or b.aggregation == "last":
            out.append(r)
        else:
            groups[r.event_name, r.customer_id, floor_to(r.timestamp_s, 60)].append(r)
    for (event_name, customer, start), group in groups.items():
        # every pending row of this customer and meter in the same minute is uncertain
        group = [
            r
            for r in rows
            if r.event_name == event_name
            and r.customer_id == customer
            and floor_to(r.timestamp_s, 60) == start
        ]
        meter_id = billed[group[0].subscription_id, group[0].meter_key].meter_id
        assert meter_id is not None
        known = sent_in_range(event_name, customer, start, start + 60)
        if known.last_sent_at is not None and known.last_sent_at > settled_before:
            continue  # Stripe may not have counted a recent push yet: next run
        try:
            stripe_total = engine.meter_total(meter_id, customer, start, start + 60)
        except TollwayError as exc:
            errors.append(f"checking {group[0].identifier} at Stripe: {exc.detail}")
            continue
        present = stripe_total - known.total
        accepted = [] if present == 0 else _subset_with_sum(group, present)
        if accepted is None:
            errors.append(
                f"{group[0].identifier}: Stripe has {stripe_total} for the minute, Tollway "
                f"{known.total} sent and {sum(r.value for r in group)} unconfirmed; not pushed"
            )
            continue
        mark_sent([r.identifier for r in accepted])
        done = {r.identifier for r in accepted}
        out.extend(r for r in group if r.identifier not in done)
    order = {r.identifier: i for i, r in enumerate(rows)}
    out = list({r.identifier: r for r in out}.values())
    return sorted(out, key=lambda r: order[r.identifier])
