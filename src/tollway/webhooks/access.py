"""THE access table: Stripe subscription status -> Tollway subscription state.

====================  ==================================================================
Stripe status         Tollway state
====================  ==================================================================
incomplete            unchanged (``on_hold`` until Checkout completes)
trialing, active      ``active`` — a ``blocked`` subscription is unblocked once its
                      latest invoice is paid (or there is none); an ``on_hold`` one is
                      only activated by its Checkout session, never by this table
past_due              unchanged during the grace period (``TOLLWAY_PAST_DUE_GRACE_S``,
                      default 3 days, counted from when Tollway first saw ``past_due``),
                      ``blocked`` after it
unpaid, paused        ``blocked``
canceled,             ``cancelled``
incomplete_expired
====================  ==================================================================

Plus one event-driven rule: ``invoice.payment_action_required`` for the subscription's
*latest* invoice while that invoice is still open -> ``blocked`` until the customer
authenticates (the following ``invoice.payment_succeeded`` unblocks).

Decisions look at the subscription as Stripe reports it *now* (fetched, not taken from
the event), so events arriving late or out of order cannot move a subscription
backwards, and a failed *old* invoice never blocks a subscription whose latest invoice
is paid.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tollway.domain.subscriptions import SubState


@dataclass(frozen=True, slots=True)
class Decision:
    target: SubState | None  # None = leave the state as it is
    only_from: tuple[SubState, ...] = ()
    reason: str = ""
    past_due_since: datetime | None = None  # what to store (None clears it)


def decide(
    *,
    status: str,
    latest_invoice_status: str | None,
    past_due_since: datetime | None,
    now: datetime,
    grace: timedelta,
) -> Decision:
    if status in ("active", "trialing"):
        if latest_invoice_status not in (None, "paid", "void", "draft"):
            return Decision(None, reason=f"latest invoice is {latest_invoice_status}")
        return Decision(
            SubState.ACTIVE, only_from=(SubState.BLOCKED,), reason=f"Stripe status {status}"
        )
    if status == "past_due":
        since = past_due_since or now
        if now - since >= grace:
            return Decision(
                SubState.BLOCKED,
                only_from=(SubState.ACTIVE,),
                reason="past_due beyond the grace period",
                past_due_since=since,
            )
        return Decision(None, reason="past_due within the grace period", past_due_since=since)
    if status in ("unpaid", "paused"):
        return Decision(SubState.BLOCKED, only_from=(SubState.ACTIVE,), reason=f"Stripe {status}")
    if status in ("canceled", "incomplete_expired"):
        return Decision(SubState.CANCELLED, reason=f"Stripe {status}")
    return Decision(None, reason=f"Stripe status {status}: no change")


def action_required_blocks(
    *, event_invoice_id: str | None, latest_invoice_id: str | None, latest_status: str | None
) -> bool:
    """``invoice.payment_action_required`` blocks only for the latest, still open invoice."""
    return (
        event_invoice_id is not None
        and event_invoice_id == latest_invoice_id
        and latest_status == "open"
    )
