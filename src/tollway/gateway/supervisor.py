"""``tollway gateway``: one process, or a supervisor forking ``workers`` gateway processes.

Every worker listens on the same port with ``SO_REUSEPORT`` (the kernel spreads new
connections over them). The supervisor forwards SIGTERM/SIGINT (each worker drains and
flushes), and restarts a worker that died, after a short back-off when it keeps dying
right after its start. Workers exit on their own when the supervisor disappears.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import signal
import time
from dataclasses import replace

from tollway.gateway.server import Gateway, raise_fd_limit
from tollway.gateway.settings import GatewaySettings

log = logging.getLogger("tollway.gateway")

_PR_SET_PDEATHSIG = 1
QUICK_DEATH_S = 2.0  # a worker dying sooner than this after its start is backed off
MAX_BACKOFF_S = 10.0


def serve_forever(settings: GatewaySettings, *, reuse_port: bool = False) -> None:
    """Run one gateway process on uvloop until SIGTERM/SIGINT, then drain and flush."""
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

    raise_fd_limit()
    uvloop.run(main())


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for a SIGTERM when the supervisor dies (Linux), so that an
    orphaned worker drains and exits instead of holding the port."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


class Supervisor:
    """Forks ``settings.workers`` gateway processes and keeps that many running."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.children: dict[int, tuple[int, float]] = {}  # pid -> (worker index, started)
        self.stopping = False
        self._quick_deaths: dict[int, int] = {}  # worker index -> deaths in a row

    def _worker_settings(self, index: int) -> GatewaySettings:
        admin = self.settings.admin_port
        return replace(self.settings, admin_port=admin + index if admin > 0 else admin)

    def spawn(self, index: int) -> int:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child process
            code = 0
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _die_with_parent(parent)
                serve_forever(self._worker_settings(index), reuse_port=True)
            except BaseException:
                log.exception("gateway worker failed", extra={"worker": index})
                code = 1
            finally:
                logging.shutdown()
            os._exit(code)
        self.children[pid] = (index, time.monotonic())
        log.info("gateway worker started", extra={"worker": index, "worker_pid": pid})
        return pid

    def _forward(self, signum: int, _frame: object) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def run(self) -> int:
        """Block until every worker exited after SIGTERM/SIGINT; restart the ones that
        die before. Returns 0."""
        signal.signal(signal.SIGTERM, self._forward)
        signal.signal(signal.SIGINT, self._forward)
        for index in range(self.settings.workers):
            self.spawn(index)
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            entry = self.children.pop(pid, None)
            if entry is None or self.stopping:
                continue
            self._replace(entry, status)
        return 0

    def _replace(self, entry: tuple[int, float], status: int) -> None:
        index, started = entry
        quick = time.monotonic() - started < QUICK_DEATH_S
        deaths = self._quick_deaths.get(index, 0) + 1 if quick else 0
        self._quick_deaths[index] = deaths
        delay = min(MAX_BACKOFF_S, 0.5 * 2 ** (deaths - 1)) if deaths else 0.0
        log.warning(
            "gateway worker died, restarting",
            extra={
                "worker": index,
                "exit_code": os.waitstatus_to_exitcode(status),
                "restart_in_s": delay,
            },
        )
        until = time.monotonic() + delay
        while not self.stopping and time.monotonic() < until:
            time.sleep(0.1)  # a SIGTERM during the back-off ends it
        if not self.stopping:
            self.spawn(index)


def main_gateway(settings: GatewaySettings) -> None:
    """Blocking entry point for ``tollway gateway``: one process, or a supervisor of
    ``settings.workers`` processes sharing the port. SIGTERM drains every worker."""
    if not logging.getLogger().handlers:
        from tollway.gateway.logs import configure_json_logging

        configure_json_logging()
    if settings.workers <= 1:
        serve_forever(settings)
        return
    Supervisor(settings).run()
