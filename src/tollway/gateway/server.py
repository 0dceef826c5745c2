"""Running the gateway: listener, admin port, config watcher, usage flusher, drain."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from tollway.gateway.app import GatewayApp
from tollway.gateway.config_source import ConfigSource, MemoryConfigSource, SqlConfigSource
from tollway.gateway.metrics import GatewayMetrics
from tollway.gateway.proxy import ClientProtocol
from tollway.gateway.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter
from tollway.gateway.settings import GatewaySettings
from tollway.metering.ledger import LedgerWriter
from tollway.metering.spool import Spool, SpoolFlusher
from tollway.store.ledger import SqlLedger

log = logging.getLogger("tollway.gateway")


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
        self._use_worker = bool(settings.flush_worker and ledger is None and settings.database_url)
        self._worker: subprocess.Popen[bytes] | None = None
        self._worker_flushed = 0
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
        self._reuse_port = reuse_port
        self._server: asyncio.Server | None = None
        self._admin: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._flush_lock = asyncio.Lock()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def admin_port(self) -> int | None:
        if self._admin is None:
            return None
        return int(self._admin.sockets[0].getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.app.apply(await self.source.load())
        if self.flusher is not None:
            await self.flush()  # replay what earlier processes left in the spool
        self._server = await loop.create_server(
            lambda: ClientProtocol(self.app),
            self.settings.host,
            self.settings.port,
            reuse_port=self._reuse_port or None,
            backlog=2048,
        )
        if self.settings.admin_port >= 0:
            with contextlib.suppress(OSError):
                self._admin = await asyncio.start_server(
                    self._serve_admin,
                    self.settings.admin_host,
                    self.settings.admin_port,
                    reuse_port=self._reuse_port or None,
                )
        self._tasks = [
            asyncio.create_task(self._watch_config()),
            asyncio.create_task(self._flush_loop()),
            asyncio.create_task(self._sweep_idle()),
        ]
        log.info("gateway listening", extra={"port": self.port, "pid": os.getpid()})

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
        self.metrics.events_pending.set(
            max(0, self.spool.appended - self.flusher.flushed_own - self._worker_flushed)
        )
        return n

    async def _flush_loop(self) -> None:
        if not self._use_worker:
            while True:
                await asyncio.sleep(self.settings.flush_interval_s)
                await self.flush()
        while True:  # supervise the flush worker and mirror its progress in the metrics
            if self._worker is None or self._worker.poll() is not None:
                if self._worker is not None:
                    log.warning("flush worker exited", extra={"code": self._worker.returncode})
                self._start_worker()
            self._read_worker_status()
            await asyncio.sleep(1.0)

    @property
    def _status_file(self) -> str:
        return os.path.join(self.settings.spool_dir, f"flusher-{os.getpid()}.status")

    def _start_worker(self) -> None:
        cfg = {
            "spool_dir": self.settings.spool_dir,
            "database_url": self.settings.database_url,
            "gateway_pid": os.getpid(),
            "interval_s": self.settings.flush_interval_s,
            "batch_size": self.settings.flush_batch_size,
            "status_file": self._status_file,
        }
        self._worker = subprocess.Popen(
            [sys.executable, "-m", "tollway.gateway.flush_worker", json.dumps(cfg)],
            start_new_session=True,  # a Ctrl-C meant for the gateway does not cut a batch
        )

    def _read_worker_status(self) -> None:
        try:
            own = int(open(self._status_file).read().split()[0])  # noqa: SIM115
        except (OSError, ValueError, IndexError):
            return
        self.metrics.events_flushed.inc(max(0, own - self._worker_flushed))
        self._worker_flushed = own
        in_process = self.flusher.flushed_own if self.flusher is not None else 0
        self.metrics.events_pending.set(max(0, self.spool.appended - own - in_process))

    async def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None or worker.poll() is not None:
            return
        worker.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(worker.wait, 30)
        except subprocess.TimeoutExpired:
            worker.kill()
        self._read_worker_status()
        with contextlib.suppress(OSError):
            os.unlink(self._status_file)

    async def _watch_config(self) -> None:
        while True:
            try:
                async for noticed in self.source.changes():
                    snapshot = await self.source.load()
                    if snapshot.version != self.app.snapshot.version or isinstance(
                        self.source, MemoryConfigSource
                    ):
                        self.app.apply(snapshot)
                        self.metrics.fanout_lag.observe(time.monotonic() - noticed)
                        log.info("configuration applied", extra={"version": snapshot.version})
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("configuration reload failed", extra={"error": type(exc).__name__})
                await asyncio.sleep(1.0)

    async def _sweep_idle(self) -> None:
        """Upstream timeouts and idle keep-alive connections, checked by one timer
        instead of a timer per call."""
        loop = asyncio.get_running_loop()
        interval = min(0.25, self.settings.upstream_timeout_s / 4)
        next_idle_check = 0.0
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            for conn in list(self.app.connections):
                conn.check_timeout(now)
            mono = time.monotonic()
            if mono < next_idle_check:
                continue
            next_idle_check = mono + 1.0
            limit = mono - self.settings.keepalive_timeout_s
            for conn in list(self.app.connections):
                if conn.active is None and not conn.queue and conn.last_active < limit:
                    conn.closing = True
                    if conn.transport is not None:
                        conn.transport.close()

    async def _serve_admin(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5.0)
            while (await asyncio.wait_for(reader.readline(), 5.0)) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.split()
            path = parts[1].decode("latin-1") if len(parts) > 1 else "/"
            if path.startswith("/metrics"):
                body, ctype, status = self.metrics.render(), b"text/plain; version=0.0.4", b"200 OK"
            elif path.startswith("/healthz"):
                ok = not self.app.draining
                body = b'{"status":"ok"}' if ok else b'{"status":"draining"}'
                ctype = b"application/json"
                status = b"200 OK" if ok else b"503 Service Unavailable"
            else:
                body, ctype, status = b"not found", b"text/plain", b"404 Not Found"
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: "
                + ctype
                + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
                + body
            )
            await writer.drain()
        except (TimeoutError, OSError, IndexError):
            pass
        finally:
            writer.close()

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
        while app.inflight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        app.commit()
        for conn in list(app.connections):
            if conn.transport is not None:
                conn.transport.abort()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._stop_worker()
        await self.flush()  # whatever the worker had not reached yet
        if self._admin is not None:
            self._admin.close()
        app.pool.close()
        await self.source.close()
        await app.limiter.close()
        self.spool.close()
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


def _serve_forever(settings: GatewaySettings, reuse_port: bool) -> None:
    import uvloop

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        gateway = Gateway(settings, reuse_port=reuse_port)
        await gateway.start()
        # A dedicated gateway process: keep the long-lived objects (modules, snapshot) out
        # of the cyclic collector and let it run less often; per-call objects are acyclic.
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        try:
            await stop.wait()
        finally:
            await gateway.stop()

    uvloop.run(main())


def main_gateway(settings: GatewaySettings) -> None:
    """Blocking entry point for ``tollway gateway``: ``settings.workers`` processes share
    the port (SO_REUSEPORT); SIGTERM drains every worker."""
    if not logging.getLogger().handlers:
        from tollway.gateway.logs import configure_json_logging

        configure_json_logging()
    if settings.workers <= 1:
        _serve_forever(settings, reuse_port=False)
        return
    children: list[int] = []
    for index in range(settings.workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child process
            code = 0
            try:
                admin = (
                    settings.admin_port + index if settings.admin_port > 0 else settings.admin_port
                )
                from dataclasses import replace

                _serve_forever(replace(settings, admin_port=admin), reuse_port=True)
            except BaseException:
                code = 1
            os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        while True:
            try:
                os.waitpid(child, 0)
                break
            except ChildProcessError:
                break
            except InterruptedError:
                continue


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket with SO_REUSEPORT (for tests and custom supervisors)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock
