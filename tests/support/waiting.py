"""Waiting for a condition with a deadline: the one polling helper of the test suite."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | Literal[False] | None],
    timeout: float = 15.0,
    what: str = "condition",
) -> T:
    """Poll ``predicate`` until it returns something truthy and return that; fail the test
    with ``what`` in the message once ``timeout`` seconds have passed (no sleep-and-hope)."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
