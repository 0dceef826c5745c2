"""Relays config-version changes made outside a control-plane request to Redis.

Requests publish their own bump after commit (``AppContext.tx``). Changes made by the
webhook worker, the usage worker or the grace sweep commit in their own transactions;
this relay notices the counter moving and publishes it, so Redis-fed gateways apply them
within a fraction of a second instead of at their safety poll.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine

from tollway.store import changes
from tollway.store.changes import RedisPublisher

log = logging.getLogger(__name__)


class ConfigRelay:
    def __init__(self, engine: Engine, publisher: RedisPublisher, every_s: float = 0.2) -> None:
        self.engine = engine
        self.publisher = publisher
        self.every_s = every_s
        self.last: int | None = None

    def tick(self) -> bool:
        """Publish if the version moved since the last tick; returns whether it did."""
        with self.engine.connect() as conn:
            version = changes.current(conn)
        moved = self.last is not None and version != self.last
        if moved:
            self.publisher.publish(version)
        self.last = version
        return moved

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # the database may be away for a while; keep going
                log.warning("config relay: %s", type(exc).__name__)
            stop.wait(self.every_s)
