"""The API lifecycle: created → published → deprecated → retired, plus blocked."""

from __future__ import annotations

from enum import StrEnum

from tollway.domain.errors import IllegalTransition


class Lifecycle(StrEnum):
    CREATED = "created"
    PUBLISHED = "published"
    DEPRECATED = "deprecated"
    RETIRED = "retired"
    BLOCKED = "blocked"


ALLOWED: dict[Lifecycle, tuple[Lifecycle, ...]] = {
    Lifecycle.CREATED: (Lifecycle.PUBLISHED, Lifecycle.BLOCKED, Lifecycle.RETIRED),
    Lifecycle.PUBLISHED: (Lifecycle.DEPRECATED, Lifecycle.BLOCKED),
    Lifecycle.DEPRECATED: (Lifecycle.RETIRED, Lifecycle.PUBLISHED, Lifecycle.BLOCKED),
    Lifecycle.BLOCKED: (Lifecycle.PUBLISHED, Lifecycle.DEPRECATED, Lifecycle.RETIRED),
    Lifecycle.RETIRED: (),
}

#: States in which the gateway routes calls to the API.
REACHABLE = frozenset({Lifecycle.PUBLISHED, Lifecycle.DEPRECATED})
#: States in which new subscriptions may be made.
SUBSCRIBABLE = frozenset({Lifecycle.PUBLISHED})


def transition(current: Lifecycle, target: Lifecycle) -> Lifecycle:
    """Return ``target`` if legal, else raise ``IllegalTransition`` naming the options."""
    if target not in ALLOWED[current]:
        raise IllegalTransition(
            "API", current.value, target.value, [s.value for s in ALLOWED[current]]
        )
    return target
