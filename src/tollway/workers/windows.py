"""Usage windows and their identifiers (pure).

Usage is pushed per (subscription, meter, window). Windows are fixed buckets of
``window_ms`` aligned to the Unix epoch, split at the subscription's billing-period
boundaries so that no window straddles two periods. A window's meter-event timestamp is
its start, so it always lands in the period its events belong to.

The identifier of a push is ``tw_<subscription>_<meter hash>_<window start ms>_<seq>``:
the same window and sequence number always give the same identifier. ``seq`` 0 is the
window's first push; a late event in an already pushed window produces a correction
push with the next ``seq`` carrying only the difference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Window:
    start_ms: int
    end_ms: int

    @property
    def timestamp_s(self) -> int:
        """The meter-event timestamp: the window start, rounded up to a whole second so it
        never falls before a period boundary that is not on a whole second."""
        return -(-self.start_ms // 1000)


def window_of(ts_ms: int, window_ms: int, boundaries_ms: Iterable[int] = ()) -> Window:
    """The window containing ``ts_ms``: its epoch-aligned bucket, cut at boundaries."""
    start = ts_ms - ts_ms % window_ms
    end = start + window_ms
    for b in boundaries_ms:
        if start < b <= ts_ms:
            start = b
        elif ts_ms < b < end:
            end = b
    return Window(start, end)


def meter_tag(meter_key: str) -> str:
    return hashlib.sha256(meter_key.encode()).hexdigest()[:8]


def identifier(subscription_id: str, meter_key: str, window_start_ms: int, seq: int) -> str:
    return f"tw_{subscription_id}_{meter_tag(meter_key)}_{window_start_ms}_{seq}"


def floor_to(ts: int, step: int) -> int:
    return ts - ts % step
