"""The gateway's side of its flush worker process (``tollway.gateway.flush_worker``).

The gateway starts the worker, restarts it when it exits, mirrors its progress (the
status file it rewrites after every pass) into the metrics, and stops it on shutdown.
Status files are named after the gateway's pid (``flusher-<pid>.status``); those of
gateways that no longer run are removed at start, so crashes leave nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("tollway.gateway")

STATUS_PREFIX = "flusher-"


def status_path(spool_dir: str | os.PathLike[str], gateway_pid: int) -> Path:
    return Path(spool_dir) / f"{STATUS_PREFIX}{gateway_pid}.status"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # somebody else's process: not ours to judge
    return True


def remove_stale_status_files(spool_dir: str | os.PathLike[str]) -> int:
    """Delete status files (and their temporary twins) of gateways that are gone."""
    removed = 0
    for path in Path(spool_dir).glob(STATUS_PREFIX + "*"):
        pid_text = path.name[len(STATUS_PREFIX) :].split(".", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _alive(int(pid_text)):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


class FlushChild:
    """One flush worker process following this gateway's spool."""

    def __init__(
        self, *, spool_dir: str, database_url: str, interval_s: float, batch_size: int
    ) -> None:
        self._spool_dir = spool_dir
        self._database_url = database_url
        self._interval_s = interval_s
        self._batch_size = batch_size
        self._proc: subprocess.Popen[bytes] | None = None
        self.flushed_own = 0  # events of this gateway's segments the worker wrote

    @property
    def status_file(self) -> Path:
        return status_path(self._spool_dir, os.getpid())

    def ensure_running(self) -> None:
        """Start the worker, or restart it if it exited."""
        if self._proc is not None and self._proc.poll() is None:
            return
        if self._proc is not None:
            log.warning("flush worker exited", extra={"code": self._proc.returncode})
        cfg = {
            "spool_dir": self._spool_dir,
            "database_url": self._database_url,
            "gateway_pid": os.getpid(),
            "interval_s": self._interval_s,
            "batch_size": self._batch_size,
            "status_file": str(self.status_file),
        }
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tollway.gateway.flush_worker", json.dumps(cfg)],
            start_new_session=True,  # a Ctrl-C meant for the gateway does not cut a batch
        )

    def read_status(self) -> int:
        """Refresh ``flushed_own`` from the status file; returns how much it grew."""
        try:
            own = int(self.status_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0
        grew = max(0, own - self.flushed_own)
        self.flushed_own = own
        return grew

    async def stop(self) -> int:
        """SIGTERM the worker (it finishes its batch and does a last pass), wait up to
        30 s, then remove the status file. Returns the last progress step."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()
        grew = self.read_status()
        with contextlib.suppress(OSError):
            self.status_file.unlink()
        return grew
