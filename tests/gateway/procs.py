"""Gateway processes for the multi-process tests (``python -m tollway.gateway``)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.gateway.helpers import wait_for


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
        try:
            wait_for(lambda: port_open(self.port) or self._died(), timeout=60)
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
        except BaseException:  # never leave the process behind
            self.proc.kill()
            self.proc.wait(10)
            raise

    def admin_url(self) -> str:
        """The admin endpoint, from the port the process logged at start (the tests
        let it bind any free port)."""
        for line in self.log_path.read_text().splitlines():
            doc = json.loads(line) if line.startswith("{") else {}
            if doc.get("msg") == "gateway listening" and doc.get("pid") == self.pid:
                return f"http://127.0.0.1:{doc['admin_port']}"
        raise AssertionError("no admin port in the log")

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


class TollwayGateway:
    """``tollway gateway --workers N``: the command an operator runs, configured through
    ``TOLLWAY_*`` variables; a supervisor process and its workers."""

    def __init__(self, data_dir: Path, *, workers: int, **env: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.admin_port = free_port_block(workers)
        self.workers = workers
        self.env = {
            **os.environ,
            "TOLLWAY_GATEWAY_HOST": "127.0.0.1",
            "TOLLWAY_GATEWAY_PORT": str(self.port),
            "TOLLWAY_GATEWAY_ADMIN_PORT": str(self.admin_port),
            **{f"TOLLWAY_{k.upper()}": v for k, v in env.items()},
        }
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "gateway.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("tollway")),
                    "gateway",
                    "--data-dir",
                    str(data_dir),
                    "--workers",
                    str(workers),
                ],
                stdout=log,
                stderr=log,
                env=self.env,
            )
        try:
            wait_for(lambda: len(self.worker_pids()) == workers or self.proc.poll() is not None, 60)
            wait_for(lambda: port_open(self.port) or self.proc.poll() is not None, timeout=60)
            assert self.proc.poll() is None, self.log_path.read_text()[-3000:]
        except BaseException:  # never leave a supervisor and its workers behind
            for pid in self.worker_pids():
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait(10)
            raise

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    def worker_pids(self) -> list[int]:
        """The supervisor's children (the gateway workers), from /proc."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def workers_serving(self) -> int:
        """Workers whose admin endpoint answers /healthz (each has its own port)."""
        return sum(port_open(self.admin_port + i) for i in range(self.workers))

    def terminate(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def free_port_block(n: int) -> int:
    """A port p such that p .. p+n-1 were all free a moment ago."""
    for _ in range(50):
        base = free_port()
        if all(_free(base + i) for i in range(1, n)):
            return base
    raise AssertionError("no block of free ports")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
