"""Process-wide gateway state shared by every client connection."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from typing import TYPE_CHECKING, Protocol

from tollway.domain.ids import ulid
from tollway.gateway.auth import Authenticator
from tollway.gateway.clients import ClientTracker, connection_cap
from tollway.gateway.metrics import GatewayMetrics
from tollway.gateway.quota_usage import InFlight
from tollway.gateway.ratelimit import LocalRateLimiter, RateLimiter
from tollway.gateway.recording import Recording
from tollway.gateway.settings import GatewaySettings
from tollway.gateway.snapshot import Snapshot
from tollway.gateway.upstream import UpstreamPool
from tollway.metering.spool import Spool, SpoolWriteFailed, encode_line

if TYPE_CHECKING:
    from tollway.gateway.exchange import Exchange
    from tollway.gateway.proxy import ClientProtocol

log = logging.getLogger("tollway.gateway")
RETRY_WRITE_S = 0.5
access_log = logging.getLogger("tollway.gateway.access")


class HeldOutput(Protocol):
    """A client connection whose output waits for this iteration's spool write."""

    def release_held(self) -> None: ...

    def abort_held(self) -> None: ...


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
        guard = None
        if settings.ssrf_allow is not None:
            from tollway.security.ssrf import UrlGuard

            guard = UrlGuard(tuple(settings.ssrf_allow))
        self.pool = UpstreamPool(
            connect_timeout_s=settings.connect_timeout_s,
            max_idle=settings.upstream_pool_size,
            guard=guard,
        )
        self.connections: set[ClientProtocol] = set()
        self.clients = ClientTracker(
            max_connections=connection_cap(settings.max_connections, 1 << 20),
            header_timeout_s=settings.header_timeout_s,
            keepalive_timeout_s=settings.keepalive_timeout_s,
            metrics=self.metrics,
        )
        self.inflight = 0
        #: configuration generation (one per applied snapshot) -> calls admitted under it
        #: and still in flight; a config acknowledgement waits for the older ones.
        self.generation = 0
        self.inflight_by_generation: dict[int, int] = {}
        self.quota_in_flight = InFlight()
        self.draining = False
        self._prefix = ulid(time.time_ns() // 1_000_000, secrets.token_bytes(10))[:16]
        self._counter = 0
        self._lines: list[bytes] = []  # usage lines of this loop iteration, not yet spooled
        self._backlog = b""  # lines a refused spool write left over (disk full), in order
        self._backlog_count = 0
        self._stuck: list[HeldOutput] = []  # output waiting for the backlog to be written
        self.recording = Recording(settings.spool_dir, settings.spool_min_free_bytes, self.metrics)
        self._holding: list[HeldOutput] = []  # client protocols whose output waits for the spool
        self._commit_scheduled = False
        self.peer_pid = os.getpid()

    def apply(self, snapshot: Snapshot) -> None:
        """Swap in a new snapshot; takes effect for the next request."""
        self.auth.use(snapshot)
        self.limiter.use(snapshot)
        self.snapshot = snapshot
        self.generation += 1
        self.metrics.config_version.set(snapshot.version)

    def started(self) -> int:
        """A call starts under the current generation (returned, to pass to ``ended``)."""
        gen = self.generation
        self.inflight_by_generation[gen] = self.inflight_by_generation.get(gen, 0) + 1
        return gen

    def ended(self, generation: int) -> None:
        left = self.inflight_by_generation.get(generation, 0) - 1
        if left > 0:
            self.inflight_by_generation[generation] = left
        else:
            self.inflight_by_generation.pop(generation, None)

    def inflight_before(self, generation: int) -> int:
        """Calls still in flight that were admitted under a generation older than this."""
        return sum(n for g, n in self.inflight_by_generation.items() if g < generation)

    @property
    def spool_pending(self) -> bool:
        return bool(self._lines)

    def hold(self, side: HeldOutput) -> None:
        self._holding.append(side)

    def commit(self) -> None:
        """Write this iteration's usage lines with one ``os.write``, then release the
        client output that waited for them. If the disk refuses, the lines stay in memory
        (in order), that output keeps waiting, and the write is retried on a timer."""
        self._commit_scheduled = False
        holding, self._holding = self._holding, []
        if self._lines:
            count = len(self._lines)
            data = b"".join(self._lines)
            self._lines.clear()
            if self._backlog:
                self._backlog += data
                self._backlog_count += count
                self.metrics.backlog_events.set(self._backlog_count)
            else:
                try:
                    self.spool.append_block(data, count)
                except SpoolWriteFailed as failed:
                    self._backlog = data[failed.written :]
                    self._backlog_count = count  # counted as appended once all is written
                    self.metrics.backlog_events.set(count)
                    self.recording.write_failed(failed.error)
                    asyncio.get_running_loop().call_later(RETRY_WRITE_S, self._retry_backlog)
            if self._backlog:
                self._stuck.extend(holding)  # output of this iteration waits for the backlog
                return
        for side in holding:
            side.release_held()

    def _retry_backlog(self) -> None:
        try:
            self.spool.append_block(self._backlog, self._backlog_count)
        except SpoolWriteFailed as failed:
            self._backlog = self._backlog[failed.written :]
            self.recording.write_failed(failed.error)
            asyncio.get_running_loop().call_later(RETRY_WRITE_S, self._retry_backlog)
            return
        self._backlog, self._backlog_count = b"", 0
        self.metrics.backlog_events.set(0)
        self.recording.written()
        stuck, self._stuck = self._stuck, []
        for side in stuck:
            side.release_held()

    @property
    def backlog_events(self) -> int:
        return self._backlog_count

    def abort_held_output(self) -> int:
        """Give up on the responses waiting for a spool write that keeps failing: their
        connections are cut (the events stay in the backlog and are written later)."""
        stuck, self._stuck = self._stuck, []
        for side in stuck:
            side.abort_held()
        return len(stuck)

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
        # The spool line of the UsageEvent these fields make (``metering.spool.encode_line``
        # takes every field by name), without building the event object. Lines are batched
        # per event-loop iteration (see ``commit``); client output waits for the batch.
        if not self._commit_scheduled:
            self._commit_scheduled = True
            asyncio.get_running_loop().call_soon(self.commit)
        self._lines.append(
            encode_line(
                event_id=f"ue_{ex.request_id}",
                timestamp_ms=ex.ts_ms,
                organization_id=route.organization_id,
                api_id=route.api_id,
                operation_id=adm.operation_id,
                method=ex.method,
                status=ex.status,
                latency_ms=latency_ms,
                request_bytes=ex.request_bytes,
                response_bytes=ex.response_bytes,
                application_id=cred.application_id,
                subscription_id=adm.subscription.id,
                credential_id=cred.id,
                consumer_id=adm.subscription.consumer_id,
                environment=cred.environment,
                usage_value=ex.usage_value,
            )
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
