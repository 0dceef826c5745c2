"""Whether this process can record usage right now, and what it does while it cannot.

A call is only forwarded when its usage event can be written: the gateway refuses calls
with 503 (``reason: recording_unavailable``) while

* the spool's file system has less than ``spool_min_free_bytes`` free (checked every
  quarter second, so the gateway stops *before* a write fails), or
* a spool write failed and the events it held are not written yet.

Events already accepted are never dropped: what a failed write could not store stays in
memory, in order, and is written as soon as the disk takes it again (retried every half
second); responses waiting for those events wait with it. Once the backlog is written
and the free space is back above the reserve, calls are forwarded again by themselves.
Each change of state is one log line; ``tollway_gateway_usage_recording_ok`` and
``tollway_gateway_spool_free_bytes`` show it, ``/healthz`` answers 503 meanwhile.
"""

from __future__ import annotations

import errno
import logging
import os
import time

from tollway.gateway.metrics import GatewayMetrics

log = logging.getLogger("tollway.gateway")


class Recording:
    def __init__(self, spool_dir: str, min_free_bytes: int, metrics: GatewayMetrics) -> None:
        self.spool_dir = spool_dir
        self.min_free_bytes = min_free_bytes
        self.metrics = metrics
        self.ok = True  # read on every call: a plain attribute
        self.write_error: str | None = None  # errno name of the failed write not yet redone
        self.low_space = False
        self.blocked_since = 0.0  # time.monotonic() when ``ok`` went False
        metrics.recording_ok.set(1)

    @property
    def reason(self) -> str:
        if self.write_error is not None:
            return f"spool write failed ({self.write_error})"
        return f"less than {self.min_free_bytes} bytes free for the spool"

    def check_space(self) -> None:
        try:
            st = os.statvfs(self.spool_dir)
        except OSError:
            return  # the next write will tell
        free = st.f_bavail * st.f_frsize
        self.metrics.spool_free_bytes.set(free)
        self.low_space = free < self.min_free_bytes
        self._update()

    def write_failed(self, error: OSError) -> None:
        self.metrics.spool_write_errors.inc()
        self.write_error = errno.errorcode.get(error.errno or 0, type(error).__name__)
        self._update()

    def written(self) -> None:
        if self.write_error is not None:
            self.write_error = None
            self._update()

    def _update(self) -> None:
        ok = self.write_error is None and not self.low_space
        if ok == self.ok:
            return
        self.ok = ok
        self.metrics.recording_ok.set(1 if ok else 0)
        if not ok:
            self.blocked_since = time.monotonic()
            log.error(
                "usage cannot be recorded: calls are refused with 503 until it can",
                extra={"reason": self.reason, "spool_dir": self.spool_dir},
            )
        else:
            log.warning(
                "usage can be recorded again: calls are forwarded",
                extra={"blocked_s": round(time.monotonic() - self.blocked_since, 3)},
            )
