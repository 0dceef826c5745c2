"""The subscription state machine (pure).

    on_hold ──activate──▶ active ──block──▶ blocked ──unblock──▶ active
       │                    │                  │
       └──cancel──▶ cancelled ◀──cancel────────┘        any live state ──expire──▶ expired

``on_hold`` waits for payment (Checkout); ``blocked`` is non-payment or an admin's hand;
``cancelled`` and ``expired`` are final.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tollway.domain.errors import IllegalTransition


class SubState(StrEnum):
    ON_HOLD = "on_hold"
    ACTIVE = "active"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Cause(StrEnum):
    USER = "user"
    WEBHOOK = "webhook"
    ADMIN = "admin"
    SYSTEM = "system"


ALLOWED: dict[SubState, tuple[SubState, ...]] = {
    SubState.ON_HOLD: (SubState.ACTIVE, SubState.CANCELLED, SubState.EXPIRED),
    SubState.ACTIVE: (SubState.BLOCKED, SubState.CANCELLED, SubState.EXPIRED),
    SubState.BLOCKED: (SubState.ACTIVE, SubState.CANCELLED, SubState.EXPIRED),
    SubState.CANCELLED: (),
    SubState.EXPIRED: (),
}

#: States that still count as "a subscription" (one per application and API).
LIVE = frozenset({SubState.ON_HOLD, SubState.ACTIVE, SubState.BLOCKED})


@dataclass(frozen=True, slots=True)
class Transition:
    from_state: SubState | None
    to_state: SubState
    cause: Cause
    reason: str | None = None


def transition(
    current: SubState, target: SubState, cause: Cause, reason: str | None = None
) -> Transition:
    """Validate a move and describe it for the audit log; raises ``IllegalTransition``."""
    if target not in ALLOWED[current]:
        raise IllegalTransition(
            "subscription", current.value, target.value, [s.value for s in ALLOWED[current]]
        )
    return Transition(current, target, cause, reason)
