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
from tollway.metering.events import UsageEvent
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
        event = UsageEvent(
            event_id="ue_" + ex.request_id,
            timestamp_ms=ex.ts_ms,
            organization_id=adm.route.organization_id,
            api_id=adm.route.api_id,
            operation_id=adm.operation_id,
            method=ex.method,
            status=ex.status,
            latency_ms=latency_ms,
            request_bytes=ex.request_bytes,
            response_bytes=ex.response_bytes,
            application_id=adm.credential.application_id,
            subscription_id=adm.subscription.id,
            credential_id=adm.credential.id,
            consumer_id=adm.subscription.consumer_id,
            environment=adm.credential.environment,
            usage_value=ex.usage_value,
        )
        self.spool.append(event)
        if self.settings.access_log:
            access_log.info(
                "call",
                extra={
                    "request_id": ex.request_id,
                    "api": adm.route.api_id,
                    "method": ex.method,
                    "status": ex.status,
                    "latency_ms": latency_ms,
                },
            )
