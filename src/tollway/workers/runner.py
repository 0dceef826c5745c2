"""Background workers of ``tollway serve``: webhook inbox and usage sync.

``run_workers(ctx, stop=event)`` is what ``tollway.server`` awaits; the work itself runs
in daemon threads (it is blocking I/O: database and Stripe) until ``stop`` is set.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tollway.billing.wiring import start_workers


async def run_workers(ctx: Any, *, stop: asyncio.Event) -> None:
    halt = start_workers(ctx)
    try:
        await stop.wait()
    finally:
        await asyncio.to_thread(halt)
