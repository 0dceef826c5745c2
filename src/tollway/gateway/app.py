"""Process-wide gateway state shared by every client connection."""

from __future__ import annotations

import logging
import os
import secrets
import time
from typing import TYPE_CHECKING

from tollway.domain.ids import ulid
from tollway.gateway.auth import Authenticator
from tollway.gateway.metrics import GatewayMetrics
from tollway.gateway.ratelimit import LocalRateLimiter, RateLimiter
from tollway.gateway.settings import GatewaySettings
from tollway.gateway.snapshot import Snapshot
from tollway.gateway.upstream import UpstreamPool
from tollway.metering.spool import Spool

if TYPE_CHECKING:
    from tollway.gateway.exchange import Exchange
    from tollway.gateway.proxy import ClientProtocol

log = logging.getLogger("tollway.gateway")
access_log = logging.getLogger("tollway.gateway.access")


class GatewayApp:
    def __init__(
        self,
        settings: GatewaySettings,
        *,
        spool: Spool | None = None,
        limiter: RateLimiter | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.snapshot = Snapshot()
        self.auth = Authenticator(settings.api_key_header)
        self.limiter: RateLimiter = limiter or LocalRateLimiter()
        self.metrics = metrics or GatewayMetrics()
        self.spool = spool or Spool(settings.spool_dir)
        self.pool = UpstreamPool(
            connect_timeout_s=settings.connect_timeout_s, max_idle=settings.upstream_pool_size
        )
        self.connections: set[ClientProtocol] = set()
        self.inflight = 0
        self.draining = False
        self._prefix = ulid(time.time_ns() // 1_000_000, secrets.token_bytes(10))[:16]
        self._counter = 0
        self.peer_pid = os.getpid()

    def apply(self, snapshot: Snapshot) -> None:
        """Swap in a new snapshot; takes effect for the next request."""
        self.auth.use(snapshot)
        self.limiter.use(snapshot)
        self.snapshot = snapshot
        self.metrics.config_version.set(snapshot.version)

    def next_request_id(self) -> str:
        self._counter += 1
        return f"{self._prefix}{self._counter:010x}"

    def record(self, ex: Exchange) -> None:
        """Append the usage event of a finished call to the spool (durable on return)."""
        adm = ex.admission
        if adm is None or ex.metered:
            return
        ex.metered = True
        latency_ms = (time.perf_counter_ns() - ex.start_ns) // 1_000_000
        route = adm.route
        cred = adm.credential
        usage = ex.usage_value
        # Same line as tollway.metering.spool.encode_event, without building a UsageEvent.
        self.spool.append_line(
            f"1\tue_{ex.request_id}\t{ex.ts_ms}\t{route.organization_id}\t{route.api_id}\t"
            f"{adm.operation_id or ''}\t{ex.method}\t{ex.status}\t{latency_ms}\t"
            f"{ex.request_bytes}\t{ex.response_bytes}\t{cred.application_id}\t"
            f"{adm.subscription.id}\t{cred.id}\t{adm.subscription.consumer_id}\t"
            f"{cred.environment}\t{'' if usage is None else usage}\n".encode()
        )
        if self.settings.access_log:
            access_log.info(
                "call",
                extra={
                    "request_id": ex.request_id,
                    "api": route.api_id,
                    "method": ex.method,
                    "status": ex.status,
                    "latency_ms": latency_ms,
                },
            )
