"""The usage flush worker: a separate process that moves a gateway's spool into the ledger.

Running the ledger writes in their own process keeps their CPU and the GIL away from the
gateway's event loop. The worker follows the live segment of its gateway (reading
complete lines only), drains and deletes segments whose owner is gone (including its
own gateway's after a crash), and exits when its gateway process disappears, after a
last pass, removing its status file.
``python -m tollway.gateway.flush_worker '<json>'`` with ``spool_dir``, ``database_url``,
``gateway_pid``, ``interval_s``, ``batch_size`` and ``status_file``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tollway.gateway.logs import configure_json_logging
from tollway.metering.spool import SpoolFlusher
from tollway.store.db import make_engine
from tollway.store.ledger import SqlLedger

log = logging.getLogger("tollway.gateway.flush_worker")


def run(cfg: dict[str, Any]) -> int:
    gateway_pid = int(cfg["gateway_pid"])
    # Batch work: let the latency-sensitive gateway (and its neighbours) have the CPU first.
    with contextlib.suppress(OSError):
        os.nice(int(cfg.get("nice", 10)))
    ledger = SqlLedger(make_engine(cfg["database_url"]))
    flusher = SpoolFlusher(
        None,
        ledger.write,
        write_lines=ledger.write_lines,
        batch_size=int(cfg.get("batch_size", 5000)),
        follow_pid=gateway_pid,
        directory=cfg["spool_dir"],
    )
    status = Path(cfg["status_file"]) if cfg.get("status_file") else None
    interval = float(cfg.get("interval_s", 0.5))
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the gateway decides when we stop
    failures = 0
    while True:
        orphaned = os.getppid() != gateway_pid
        try:
            flusher.flush_once()
            failures = 0
        except Exception as exc:
            failures += 1
            log.warning("usage flush failed", extra={"error": type(exc).__name__})
        if status is not None:
            _write_status(status, f"{flusher.flushed_own} {flusher.flushed}")
        if orphaned:  # the gateway died: nobody reads the status any more
            if status is not None:
                with contextlib.suppress(OSError):
                    status.unlink()
            return 0
        if stopping:
            return 0
        time.sleep(min(5.0, interval * (1 + failures)))


def _write_status(status: Path, text: str) -> None:
    """Replace the status file atomically; a full disk only delays the next update."""
    tmp = status.with_suffix(".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, status)
    except OSError as exc:
        log.warning("flush status not written", extra={"error": type(exc).__name__})
        with contextlib.suppress(OSError):
            tmp.unlink()


def main(argv: list[str]) -> None:
    configure_json_logging()
    sys.exit(run(json.loads(argv[1])))


if __name__ == "__main__":
    main(sys.argv)
