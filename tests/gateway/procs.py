"""Gateway processes for the multi-process tests (``python -m tollway.gateway``)."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from helpers import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class GatewayProcess:
    def __init__(self, log_dir: Path, *, nofile: int | None = None, **settings: Any) -> None:
        """``nofile``: the process's limit of open files (soft and hard), when given."""
        self.nofile = nofile
        self.port = settings.setdefault("port", free_port())
        settings.setdefault("host", "127.0.0.1")
        settings.setdefault("admin_port", 0)
        settings.setdefault("flush_interval_s", 0.1)
        self.settings = settings
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"gateway-{self.port}-{os.getpid()}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tollway.gateway", json.dumps(self.settings)],
                stdout=log,
                stderr=log,
                preexec_fn=self._limit_files if self.nofile else None,
            )
        wait_for(lambda: port_open(self.port) or self._died(), timeout=20)
        assert self.proc.poll() is None, self.log_path.read_text()[-3000:]

    def _limit_files(self) -> None:
        assert self.nofile is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def rss_peak_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")
