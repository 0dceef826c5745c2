"""Multi-process behaviour: fan-out, shared limits, crash safety, draining, streaming."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import Engine, select

from tests.gateway.conftest import PrivateRedis, private_engine
from tests.gateway.helpers import wait_for
from tests.gateway.procs import GatewayProcess
from tests.gateway.sql_catalog import revoke_key, seed, set_subscription_state
from tests.gateway.upstream_server import Upstream
from tollway.store import tables as t

pytestmark = pytest.mark.slow


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with private_engine(tmp_path) as engine:
        yield engine


def db_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def event_ids(engine: Engine) -> list[str]:
    with engine.connect() as c:
        return [r[0] for r in c.execute(select(t.usage_events.c.event_id))]


def _is(status: Callable[[GatewayProcess], int], gw: GatewayProcess, expected: int) -> bool:
    return status(gw) == expected


def _three(tmp_path: Path, engine: Engine, **extra: Any) -> list[GatewayProcess]:
    return [
        GatewayProcess(
            tmp_path, database_url=db_url(engine), spool_dir=str(tmp_path / f"spool{i}"), **extra
        )
        for i in range(3)
    ]


@pytest.mark.parametrize("channel", ["poll", "redis"])
def test_changes_reach_three_processes_within_a_second(
    tmp_path: Path, engine: Engine, upstream: Upstream, channel: str, private_redis: PrivateRedis
) -> None:
    key = seed(engine, upstream.url)
    extra = {"redis_url": private_redis.url} if channel == "redis" else {}
    gws = _three(tmp_path, engine, **extra)
    try:

        def status(gw: GatewayProcess, k: str = key) -> int:
            return httpx.get(gw.url + "/books/v1/a", headers={"apikey": k}).status_code

        assert [status(g) for g in gws] == [200, 200, 200]
        publisher = redis.Redis.from_url(private_redis.url)
        changes: list[tuple[Callable[[], int], int]] = [
            (lambda: set_subscription_state(engine, "blocked"), 403),
            (lambda: set_subscription_state(engine, "active"), 200),
            (lambda: revoke_key(engine), 401),
        ]
        for change, expected in changes:
            version = change()
            changed_at = time.monotonic()
            if channel == "redis":
                publisher.publish("tollway:config", str(version))
            lags = []
            for gw in gws:
                wait_for(partial(_is, status, gw, expected), timeout=5, interval=0.01)
                lags.append(time.monotonic() - changed_at)
            assert max(lags) < 1.0, lags
        publisher.close()
    finally:
        for gw in gws:
            gw.terminate()


@pytest.mark.database_incidental  # the rate state lives in Redis
def test_redis_rate_limit_holds_across_three_processes(
    tmp_path: Path, engine: Engine, upstream: Upstream, private_redis: PrivateRedis
) -> None:
    limit = 10
    key = seed(engine, upstream.url, rate_limit=limit, rate_unit="hour")
    gws = _three(tmp_path, engine, redis_url=private_redis.url)
    try:
        barrier = threading.Barrier(20)

        def fire(i: int) -> list[int]:
            barrier.wait()
            gw = gws[i % 3]
            with httpx.Client() as client:
                return [
                    client.get(gw.url + "/books/v1/a", headers={"apikey": key}).status_code
                    for _ in range(5)
                ]

        with ThreadPoolExecutor(20) as pool:
            codes = [c for batch in pool.map(fire, range(20)) for c in batch]
        assert len(codes) == 10 * limit
        assert set(codes) <= {200, 429}
        assert 0 < codes.count(200) <= limit
    finally:
        for gw in gws:
            gw.terminate()


def test_kill_9_under_load_loses_no_metered_call(
    tmp_path: Path, engine: Engine, upstream: Upstream
) -> None:
    key = seed(engine, upstream.url)
    spool = str(tmp_path / "spool")
    gw = GatewayProcess(tmp_path, database_url=db_url(engine), spool_dir=spool)
    received: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                with httpx.Client(timeout=5) as client:
                    while not stop.is_set():
                        r = client.get(gw.url + "/books/v1/a", headers={"apikey": key})
                        if 200 <= r.status_code < 300:
                            with lock:
                                received.append("ue_" + r.headers["x-request-id"])
            except httpx.HTTPError:
                time.sleep(0.01)

    threads = [threading.Thread(target=load) for _ in range(6)]
    for th in threads:
        th.start()
    try:
        wait_for(lambda: len(received) > 300, timeout=30)
        gw.kill9()
        killed_at = len(received)
        gw.start()  # same spool directory: replays what the dead process left
        wait_for(lambda: len(received) > killed_at + 200, timeout=30)
    finally:
        stop.set()
        for th in threads:
            th.join(10)
    assert gw.terminate() == 0
    ids = event_ids(engine)
    assert len(ids) == len(set(ids))
    missing = set(received) - set(ids)
    assert not missing, f"{len(missing)} of {len(received)} 2xx responses not in the ledger"
    assert len(set(received)) == len(received)


def test_sigterm_drains_in_flight_calls_and_flushes(
    tmp_path: Path, engine: Engine, upstream: Upstream
) -> None:
    key = seed(engine, upstream.url)
    gw = GatewayProcess(
        tmp_path, database_url=db_url(engine), spool_dir=str(tmp_path / "s"), flush_interval_s=60
    )
    result: dict[str, httpx.Response] = {}
    before = len(upstream.seen)

    def call() -> None:
        result["r"] = httpx.get(
            gw.url + "/books/v1/slow?s=1.5", headers={"apikey": key}, timeout=10
        )

    th = threading.Thread(target=call)
    th.start()
    wait_for(lambda: len(upstream.seen) > before)
    assert gw.terminate() == 0
    th.join(10)
    assert result["r"].status_code == 200
    ids = event_ids(engine)
    assert ids == ["ue_" + result["r"].headers["x-request-id"]]


@pytest.mark.database_incidental  # streaming; the database only configures the gateway
def test_100mb_streams_both_ways_without_buffering(
    tmp_path: Path, engine: Engine, upstream: Upstream
) -> None:
    key = seed(engine, upstream.url)
    gw = GatewayProcess(
        tmp_path,
        database_url=db_url(engine),
        spool_dir=str(tmp_path / "s"),
        max_body_bytes=200 * 1024 * 1024,
        upstream_timeout_s=30,
    )
    size = 100 * 1024 * 1024
    try:
        baseline = gw.rss_peak_kb()
        digest = hashlib.sha256()
        block = bytes(range(256)) * 4096  # 1 MiB

        def body() -> Iterator[bytes]:
            for _ in range(size // len(block)):
                digest.update(block)
                yield block

        r = httpx.post(gw.url + "/books/v1/up", headers={"apikey": key}, content=body(), timeout=60)
        assert r.status_code == 200
        assert r.json()["body_bytes"] == size
        assert r.json()["body_sha256"] == digest.hexdigest()
        got = 0
        with httpx.stream(
            "GET", gw.url + f"/books/v1/big?n={size}", headers={"apikey": key}, timeout=60
        ) as resp:
            assert resp.status_code == 200
            for chunk in resp.iter_raw():
                got += len(chunk)
        assert got == size
        growth_mb = (gw.rss_peak_kb() - baseline) / 1024
        assert growth_mb < 40, f"gateway peak RSS grew by {growth_mb:.0f} MB"
    finally:
        gw.terminate()
