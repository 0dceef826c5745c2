"""Telling the control plane which configuration this gateway serves.

After a new snapshot is applied, every call admitted under an older one is allowed to
finish (bounded by the upstream timeout), the spool is flushed into the usage ledger,
and only then is ``(instance, config version)`` written to ``gateway_instances``. So an
acknowledged version means: nothing is admitted under older configurations any more,
and everything that was is in the ledger. A cancel waits for that before it cuts the
subscription's final usage push. A heartbeat every second keeps the row fresh; rows not
seen for a few seconds belong to gateways that are gone and are not waited for.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from tollway.gateway.app import GatewayApp
from tollway.store import db, fence_repo

log = logging.getLogger("tollway.gateway.config")


class ConfigAcknowledger:
    def __init__(
        self,
        database_url: str,
        app: GatewayApp,
        flush: Callable[[], Awaitable[int]],
        *,
        wait_limit_s: float,
        every_s: float = 1.0,
    ) -> None:
        self.engine = db.make_engine(database_url)
        self.app = app
        self.flush = flush
        self.wait_limit_s = wait_limit_s
        self.every_s = every_s
        self.instance_id = f"{socket.gethostname()[:60]}-{os.getpid()}-{secrets.token_hex(4)}"
        self.acknowledged = -1
        self._lock = asyncio.Lock()

    def _write(self, version: int) -> None:
        with db.transaction(self.engine) as conn:
            fence_repo.acknowledge(conn, self.instance_id, version, datetime.now(UTC))

    async def acknowledge(self, version: int, generation: int) -> None:
        """Acknowledge ``version`` (applied as ``generation``) once the calls admitted
        under older generations are done and flushed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_limit_s
        while self.app.inflight_before(generation) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)  # let this iteration's usage lines reach the spool
        async with self._lock:
            if version <= self.acknowledged:
                return
            await self.flush()
            try:
                await asyncio.to_thread(self._write, version)
            except Exception as exc:  # the database may be away; the heartbeat retries
                log.warning("config acknowledgement failed", extra={"error": type(exc).__name__})
                return
            self.acknowledged = version

    async def heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            if self.acknowledged < 0:
                continue
            try:
                await asyncio.to_thread(self._write, self.acknowledged)
            except Exception as exc:
                log.warning("gateway heartbeat failed", extra={"error": type(exc).__name__})

    def forget(self) -> None:
        try:
            with db.transaction(self.engine) as conn:
                fence_repo.forget(conn, self.instance_id)
        except Exception as exc:
            log.warning("gateway deregistration failed", extra={"error": type(exc).__name__})
        self.engine.dispose()
