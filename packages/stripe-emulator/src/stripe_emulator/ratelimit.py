"""Stripe's per-account request rate limits (sandbox: 25 reads and 25 writes a second)."""

from __future__ import annotations

from collections import deque

from . import errors
from .settings import EmulatorSettings
from .state import EmulatorState


class RateLimiter:
    """A sliding one-second window per account and kind (read: GET; write: the rest).

    Meter events count like every other write, as in Stripe's sandbox. Time is the
    emulator's wall clock, so ``POST /_emulator/time`` moves it too.
    """

    def __init__(self, state: EmulatorState, settings: EmulatorSettings) -> None:
        self.state = state
        self.settings = settings
        self._seen: dict[tuple[str, str], deque[float]] = {}

    def admit(self, account: str, method: str) -> None:
        limit = self.settings.rate_limit_per_s
        if limit is None:
            return
        kind = "read" if method == "GET" else "write"
        now = self.state.wall_now()
        window = self._seen.setdefault((account, kind), deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            raise errors.rate_limited()
        window.append(now)

    def reset(self) -> None:
        self._seen.clear()
