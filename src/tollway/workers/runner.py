"""Background workers of ``tollway serve``: webhook inbox, usage sync and (with Redis)
the config relay.

``run_workers(ctx, stop=event)`` is what ``tollway.server`` awaits; the work itself runs
in daemon threads (it is blocking I/O: database and Stripe) until ``stop`` is set.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tollway.billing.wiring import start_workers
from tollway.workers.config_relay import ConfigRelay


async def run_workers(ctx: Any, *, stop: asyncio.Event) -> None:
    halt = start_workers(ctx)
    relay_stop = threading.Event()
    relay: threading.Thread | None = None
    if ctx.settings.redis_url:
        relay = threading.Thread(
            target=ConfigRelay(ctx.engine, ctx.publisher).run, args=(relay_stop,), daemon=True
        )
        relay.start()
    try:
        await stop.wait()
    finally:
        relay_stop.set()
        await asyncio.to_thread(halt)
        if relay is not None:
            await asyncio.to_thread(relay.join, 5)
