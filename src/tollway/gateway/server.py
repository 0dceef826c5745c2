"""One gateway process's lifecycle: listener, admin endpoint, config watcher, usage
flushing, timers and drain. ``supervisor.py`` runs one or several of these."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import socket
import time
from typing import Any

from tollway.gateway.acknowledge import ConfigAcknowledger
from tollway.gateway.admin import AdminEndpoint
from tollway.gateway.app import GatewayApp
from tollway.gateway.clients import connection_cap
from tollway.gateway.config_source import ConfigSource, MemoryConfigSource, SqlConfigSource
from tollway.gateway.flush_child import FlushChild, remove_stale_status_files
from tollway.gateway.metrics import GatewayMetrics
from tollway.gateway.proxy import ClientProtocol
from tollway.gateway.quota_usage import (
    LedgerCounter,
    MemoryLedgerCounter,
    QuotaUsage,
    SqlLedgerCounter,
)
from tollway.gateway.ratelimit import LocalRateLimiter, RateLimiter
from tollway.gateway.ratelimit_redis import RedisRateLimiter
from tollway.gateway.settings import GatewaySettings
from tollway.gateway.snapshot import Snapshot
from tollway.metering.ledger import LedgerWriter, MemoryLedger
from tollway.metering.spool import Spool, SpoolFlusher
from tollway.store.ledger import SqlLedger

log = logging.getLogger("tollway.gateway")


def raise_fd_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit (every client
    connection is a file descriptor); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class ResourceErrorLog:
    """A loop exception handler that turns a storm of identical resource errors (accept
    failing with EMFILE under a connection flood) into one log line per interval with
    a count, and passes everything else on."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval_s: float = 10.0) -> None:
        self._loop = loop
        self._previous = loop.get_exception_handler()
        self._interval_s = interval_s
        self._next_log = 0.0
        self.suppressed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not (isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS):
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now < self._next_log:
            self.suppressed += 1
            return
        self._next_log = now + self._interval_s
        log.error(
            "out of system resources: %s",
            context.get("message", "error"),
            extra={
                "error": errno.errorcode.get(exc.errno or 0, "?"),
                "suppressed_since_last": self.suppressed,
            },
        )
        self.suppressed = 0

    def restore(self) -> None:
        self._loop.set_exception_handler(self._previous)


def _ledger_counter(ledger: LedgerWriter | None) -> LedgerCounter | None:
    if isinstance(ledger, SqlLedger):
        return SqlLedgerCounter(ledger.engine)
    if isinstance(ledger, MemoryLedger):
        return MemoryLedgerCounter(ledger)
    return None


class Gateway:
    """One gateway process's server. ``await start()``, then ``await stop()``."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        source: ConfigSource | None = None,
        ledger: LedgerWriter | None = None,
        limiter: RateLimiter | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.settings = settings
        self.metrics = GatewayMetrics()
        if source is None:
            source = (
                SqlConfigSource(
                    settings.database_url,
                    redis_url=settings.redis_url,
                    poll_interval_s=settings.poll_interval_s,
                )
                if settings.database_url
                else MemoryConfigSource()
            )
        self.source = source
        self.flush_child: FlushChild | None = None
        if settings.flush_worker and ledger is None and settings.database_url:
            self.flush_child = FlushChild(
                spool_dir=settings.spool_dir,
                database_url=settings.database_url,
                interval_s=settings.flush_interval_s,
                batch_size=settings.flush_batch_size,
            )
        if ledger is None and settings.database_url:
            from tollway.store.db import make_engine

            ledger = SqlLedger(make_engine(settings.database_url))
        self.ledger = ledger
        if limiter is None:
            limiter = (
                RedisRateLimiter(
                    settings.redis_url,
                    failure_mode=settings.rate_limit_failure_mode,
                    on_error=self.metrics.limit_store_errors.inc,
                )
                if settings.redis_url
                else LocalRateLimiter()
            )
        self.spool = Spool(settings.spool_dir)
        self.app = GatewayApp(settings, spool=self.spool, limiter=limiter, metrics=self.metrics)
        self.quota_usage = QuotaUsage(
            settings.spool_dir, _ledger_counter(ledger), self.app.quota_in_flight, self.app.commit
        )
        if isinstance(limiter, RedisRateLimiter) and limiter.usage is None:
            limiter.usage = self.quota_usage
        self.flusher = (
            SpoolFlusher(
                self.spool,
                self.ledger.write,
                batch_size=settings.flush_batch_size,
                write_lines=getattr(self.ledger, "write_lines", None),
            )
            if self.ledger is not None
            else None
        )
        self.acks = (
            ConfigAcknowledger(
                settings.database_url,
                self.app,
                self.flush,
                wait_limit_s=settings.upstream_timeout_s,
            )
            if settings.database_url and self.flusher is not None
            else None
        )
        self._ack_tasks: set[asyncio.Task[None]] = set()
        self.admin = AdminEndpoint(self.metrics, self._health)
        self._reuse_port = reuse_port
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._flush_lock = asyncio.Lock()
        self._error_log: ResourceErrorLog | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def admin_port(self) -> int | None:
        return self.admin.port

    def _health(self) -> str | None:
        if self.app.draining:
            return "draining"
        return None if self.app.recording.ok else "recording_unavailable"

    async def start(self) -> None:
        """Replay what earlier processes left in the spool, load the configuration (so its
        quota and rate state includes those calls), then listen."""
        loop = asyncio.get_running_loop()
        self._error_log = ResourceErrorLog(loop)
        loop.set_exception_handler(self._error_log)
        self.app.clients.max_connections = connection_cap(
            self.settings.max_connections, raise_fd_limit()
        )
        remove_stale_status_files(self.settings.spool_dir)
        self.app.recording.check_space()
        if self.flusher is not None:
            await self.flush()
        self._apply(await self.source.load())
        self._server = await loop.create_server(
            lambda: ClientProtocol(self.app),
            self.settings.host,
            self.settings.port,
            reuse_port=self._reuse_port or None,
            backlog=2048,
        )
        if self.settings.admin_port >= 0:
            await self.admin.start(
                self.settings.admin_host, self.settings.admin_port, reuse_port=self._reuse_port
            )
        self._tasks = [
            asyncio.create_task(self._watch_config()),
            asyncio.create_task(self._flush_loop()),
            asyncio.create_task(self._sweep()),
        ]
        if self.acks is not None:
            self._tasks.append(asyncio.create_task(self.acks.heartbeat()))
        log.info(
            "gateway listening",
            extra={"port": self.port, "admin_port": self.admin_port, "pid": os.getpid()},
        )

    # --- usage flushing -------------------------------------------------------------
    def _update_pending(self) -> None:
        in_process = self.flusher.flushed_own if self.flusher is not None else 0
        by_worker = self.flush_child.flushed_own if self.flush_child is not None else 0
        self.metrics.events_pending.set(max(0, self.spool.appended - in_process - by_worker))

    async def flush(self) -> int:
        if self.flusher is None:
            return 0
        async with self._flush_lock:
            try:
                n = await asyncio.to_thread(self.flusher.flush_once)
            except Exception as exc:
                self.metrics.flush_errors.inc()
                log.warning("usage flush failed", extra={"error": type(exc).__name__})
                return 0
        self.metrics.events_flushed.inc(n)
        self._update_pending()
        return n

    async def _flush_loop(self) -> None:
        child = self.flush_child
        if child is None:
            while True:
                await asyncio.sleep(self.settings.flush_interval_s)
                await self.flush()
        while True:  # supervise the flush worker and mirror its progress in the metrics
            child.ensure_running()
            self.metrics.events_flushed.inc(child.read_status())
            self._update_pending()
            await asyncio.sleep(1.0)

    # --- configuration --------------------------------------------------------------
    async def _watch_config(self) -> None:
        while True:
            try:
                async for noticed in self.source.changes():
                    snapshot = await self.source.load()
                    if snapshot.version != self.app.snapshot.version or isinstance(
                        self.source, MemoryConfigSource
                    ):
                        self._apply(snapshot)
                        self.metrics.fanout_lag.observe(time.monotonic() - noticed)
                        log.info("configuration applied", extra={"version": snapshot.version})
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("configuration reload failed", extra={"error": type(exc).__name__})
                await asyncio.sleep(1.0)

    def _apply(self, snapshot: Snapshot) -> None:
        """Serve ``snapshot`` from the next call on; acknowledge it (in the background)
        once the calls admitted under older ones are in the ledger."""
        self.app.apply(snapshot)
        if self.acks is not None:
            task = asyncio.create_task(self.acks.acknowledge(snapshot.version, self.app.generation))
            self._ack_tasks.add(task)
            task.add_done_callback(self._ack_tasks.discard)

    # --- timers ---------------------------------------------------------------------
    async def _sweep(self) -> None:
        """Deadlines (request head and body, upstream, idle keep-alive), checked by one
        timer instead of a timer per call."""
        loop = asyncio.get_running_loop()
        s = self.settings
        interval = min(0.25, s.upstream_timeout_s / 4, s.header_timeout_s / 4, s.body_timeout_s / 4)
        app = self.app
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            for conn in list(app.connections):
                conn.check_timeout(now)
            app.clients.expire(now)
            app.recording.check_space()
            if (
                not app.recording.ok
                and time.monotonic() - app.recording.blocked_since > s.upstream_timeout_s
                and app.abort_held_output()
            ):
                log.error(
                    "connections waiting for the spool cut", extra={"after_s": s.upstream_timeout_s}
                )

    # --- shutdown -------------------------------------------------------------------
    async def stop(self) -> None:
        """Stop accepting, let in-flight calls finish (up to the drain timeout), flush."""
        app = self.app
        app.draining = True
        if self._server is not None:
            self._server.close()
        app.commit()
        for conn in list(app.connections):
            if conn.active is None and not conn.queue:
                conn.closing = True
                conn._close_transport()
            else:
                conn.close_after = True
        deadline = time.monotonic() + self.settings.drain_timeout_s
        while (app.inflight > 0 or app.backlog_events) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        app.commit()
        if app.backlog_events:
            log.error(
                "usage events lost: the spool could not be written before the exit",
                extra={"events": app.backlog_events, "reason": app.recording.reason},
            )
        for conn in list(app.connections):
            if conn.transport is not None:
                conn.transport.abort()
        for task in (*self._tasks, *self._ack_tasks):
            task.cancel()
        for task in (*self._tasks, *self._ack_tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.flush_child is not None:
            self.metrics.events_flushed.inc(await self.flush_child.stop())
        await self.flush()  # whatever the worker had not reached yet
        if self.acks is not None:
            await asyncio.to_thread(self.acks.forget)
        self.admin.close()
        app.pool.close()
        await self.source.close()
        await app.limiter.close()
        self.spool.close()
        if self._error_log is not None:
            self._error_log.restore()
        log.info("gateway stopped", extra={"pid": os.getpid()})


async def run_gateway(
    settings: GatewaySettings, *, stop: asyncio.Event | None = None, **kwargs: Any
) -> None:
    """Run until ``stop`` is set (or forever), then drain and flush. For embedding."""
    gateway = Gateway(settings, **kwargs)
    await gateway.start()
    try:
        if stop is None:
            await asyncio.Event().wait()
        else:
            await stop.wait()
    finally:
        await gateway.stop()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket with SO_REUSEPORT (for tests and custom supervisors)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock
