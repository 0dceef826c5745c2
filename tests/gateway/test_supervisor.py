"""`tollway gateway --workers N`: a supervisor that keeps N workers serving, status files
that do not pile up after crashes, workers that leave with their supervisor, and the
event loop `tollway serve` really runs on."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from tests.gateway.conftest import private_engine
from tests.gateway.helpers import wait_for
from tests.gateway.procs import TollwayGateway
from tests.gateway.sql_catalog import seed
from tests.gateway.upstream_server import Upstream
from tollway.store import tables as t

# The spool and the worker processes are what is tested; the database only serves the
# gateway its configuration.
pytestmark = [pytest.mark.slow, pytest.mark.database_incidental]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with private_engine(tmp_path) as engine:
        yield engine


def _gateway(tmp_path: Path, engine: Engine) -> TollwayGateway:
    return TollwayGateway(
        tmp_path / "gw",
        workers=2,
        database_url=engine.url.render_as_string(hide_password=False),
        ssrf_allow='["127.0.0.1"]',
    )


def _status_files(gw: TollwayGateway) -> list[str]:
    return sorted(p.name for p in gw.spool_dir.glob("flusher-*"))


def test_a_worker_that_dies_is_restarted_and_leaves_no_status_file(
    tmp_path: Path, engine: Engine, upstream: Upstream
) -> None:
    key = seed(engine, upstream.url)
    gw = _gateway(tmp_path, engine)
    ok = 0
    try:
        for _ in range(3):
            before = gw.worker_pids()
            wait_for(lambda: len(_status_files(gw)) == 2, timeout=10)
            os.kill(before[0], signal.SIGKILL)
            wait_for(lambda: len(set(gw.worker_pids()) - set(before)) == 1, timeout=10)
            wait_for(lambda: gw.workers_serving() == 2, timeout=10)
            for _ in range(20):  # every worker keeps answering (and metering)
                r = httpx.get(gw.url + "/books/v1/a", headers={"apikey": key})
                assert r.status_code == 200
                ok += 1
        # one status file per live worker: those of the killed ones are gone
        live = {f"flusher-{pid}.status" for pid in gw.worker_pids()}
        wait_for(lambda: set(_status_files(gw)) == live, timeout=10)
    finally:
        assert gw.terminate() == 0
    assert _status_files(gw) == []
    with engine.connect() as c:
        metered = c.execute(select(func.count()).select_from(t.usage_events)).scalar()
    assert metered == ok


def test_workers_leave_with_their_supervisor(
    tmp_path: Path, engine: Engine, upstream: Upstream
) -> None:
    seed(engine, upstream.url)
    gw = _gateway(tmp_path, engine)
    workers = gw.worker_pids()
    gw.proc.send_signal(signal.SIGKILL)
    gw.proc.wait(10)

    def gone() -> bool:
        for pid in workers:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            return False
        return True

    wait_for(gone, timeout=20)  # each drained and exited instead of holding the port
