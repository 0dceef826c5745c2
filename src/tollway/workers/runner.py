"""Background workers of ``tollway serve``: webhook inbox, usage sync, usage alerts and
notifications, prepaid credit (burn and top-up), and (with Redis) the config relay.

``run_workers(...)`` is what ``tollway.server`` awaits; the work itself runs in daemon
threads (it is blocking I/O: database and Stripe) until ``stop`` is set. The server
passes the workers in (the composition root builds them).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from tollway.webhooks.processor import WebhookProcessor
from tollway.workers.config_relay import ConfigRelay
from tollway.workers.credits import CreditKeeper
from tollway.workers.notify import NotificationSender
from tollway.workers.usage_sync import UsageSync

log = logging.getLogger(__name__)

WEBHOOK_INTERVAL_S = 5.0
NOTIFY_INTERVAL_S = 5.0  # usage alerts evaluated and due notifications sent this often


def start_threads(
    webhooks: WebhookProcessor,
    usage: UsageSync,
    *,
    usage_interval_s: float,
    notifier: NotificationSender | None = None,
    credits: CreditKeeper | None = None,
) -> Callable[[], None]:
    """Run the webhook worker (every 5 s; deliveries are also applied as they arrive)
    and the usage sync (every ``usage_interval_s``) in daemon threads. Returns a function
    that stops them."""
    stop = threading.Event()

    def loop(name: str, every: float, fn: Callable[[], object]) -> None:
        while not stop.is_set():
            try:
                fn()
            except Exception:
                log.exception("%s failed; retrying", name)
            stop.wait(every)

    threads = [
        threading.Thread(
            target=loop, args=("webhooks", WEBHOOK_INTERVAL_S, webhooks.run_pending), daemon=True
        ),
        threading.Thread(
            target=loop, args=("usage sync", usage_interval_s, usage.run_once), daemon=True
        ),
    ]
    if notifier is not None:
        threads.append(
            threading.Thread(
                target=loop,
                args=("notifications", NOTIFY_INTERVAL_S, notifier.run_once),
                daemon=True,
            )
        )
    if credits is not None:
        threads.append(
            threading.Thread(
                target=loop, args=("credits", NOTIFY_INTERVAL_S, credits.run_once), daemon=True
            )
        )
    for t in threads:
        t.start()

    def halt() -> None:
        stop.set()
        for t in threads:
            t.join(timeout=10)

    return halt


async def run_workers(
    *,
    webhooks: WebhookProcessor,
    usage: UsageSync,
    usage_interval_s: float,
    relay: ConfigRelay | None,
    stop: asyncio.Event,
    notifier: NotificationSender | None = None,
    credits: CreditKeeper | None = None,
) -> None:
    halt = start_threads(
        webhooks, usage, usage_interval_s=usage_interval_s, notifier=notifier, credits=credits
    )
    relay_stop = threading.Event()
    relay_thread: threading.Thread | None = None
    if relay is not None:
        relay_thread = threading.Thread(target=relay.run, args=(relay_stop,), daemon=True)
        relay_thread.start()
    try:
        await stop.wait()
    finally:
        relay_stop.set()
        await asyncio.to_thread(halt)
        if relay_thread is not None:
            await asyncio.to_thread(relay_thread.join, 5)
