"""Slow and surplus clients: header and body deadlines, the per-process connection cap,
and a bounded slowloris during which normal clients keep being served."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from tests.gateway.conftest import Catalog, MakeGateway, private_engine
from tests.gateway.helpers import wait_for
from tests.gateway.procs import GatewayProcess
from tests.gateway.sql_catalog import seed
from tests.gateway.upstream_server import Upstream

# Sockets and deadlines; the one test with a database uses it only to configure the gateway.
pytestmark = pytest.mark.database_incidental


def _read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes (or ``timeout`` passes: then the
    connection was still open, which the callers treat as a failure)."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_a_head_sent_byte_by_byte_is_cut_at_the_header_deadline(
    make_gateway: MakeGateway, catalog: Catalog
) -> None:
    gw = make_gateway(catalog.snapshot(), header_timeout_s=0.6)
    head = b"GET /books/v1/a HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sock:
        started = time.monotonic()
        sock.settimeout(0.1)
        answer = b""
        for byte in head:  # one byte every 50 ms: always "active", never finished
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            with contextlib.suppress(TimeoutError):
                answer += sock.recv(65536)
            if answer or time.monotonic() - started > 8:
                break
        answer += _read_until_closed(sock, 5)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer[:80]
    assert b'"reason":"header_timeout"' in answer
    assert gw.gateway.metrics.client_closes.values["header_timeout"] == 1


def test_a_connection_that_sends_nothing_is_closed_at_the_header_deadline(
    make_gateway: MakeGateway, catalog: Catalog
) -> None:
    gw = make_gateway(catalog.snapshot(), header_timeout_s=0.5, keepalive_timeout_s=60)
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sock:
        answer = _read_until_closed(sock, 5)
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_a_stalled_request_body_is_408_and_closed(
    make_gateway: MakeGateway, catalog: Catalog
) -> None:
    gw = make_gateway(catalog.snapshot(), body_timeout_s=0.5)
    head = (
        f"POST /books/v1/up HTTP/1.1\r\nHost: x\r\napikey: {catalog.key}\r\n"
        "Content-Length: 100\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sock:
        sock.sendall(head + b"x" * 10)  # then nothing
        answer = _read_until_closed(sock, 5)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer[:80]
    assert b'"reason":"body_timeout"' in answer


def test_at_the_cap_the_oldest_waiting_connection_makes_room(
    make_gateway: MakeGateway, catalog: Catalog
) -> None:
    gw = make_gateway(catalog.snapshot(), max_connections=10)
    idle = [socket.create_connection(("127.0.0.1", gw.port), timeout=5) for _ in range(10)]
    try:
        for sock in idle:
            sock.sendall(b"GET /books/v1/a HTTP/1.1\r\n")  # heads that never finish
        wait_for(lambda: gw.gateway.metrics.connections.value == 10)
        r = httpx.get(gw.url + "/books/v1/a", headers={"apikey": catalog.key})
        assert r.status_code == 200  # served: the oldest waiting connection was shed
        assert _read_until_closed(idle[0], 5).startswith(b"HTTP/1.1 408 ")
        assert gw.gateway.metrics.client_closes.values["evicted_waiting"] >= 1
    finally:
        for sock in idle:
            sock.close()


def test_at_the_cap_with_every_connection_busy_a_new_one_is_refused_cleanly(
    make_gateway: MakeGateway, catalog: Catalog, upstream: Upstream
) -> None:
    gw = make_gateway(catalog.snapshot(), max_connections=4, upstream_timeout_s=10)
    results: list[int] = []

    def slow_call() -> None:
        r = httpx.get(gw.url + "/books/v1/slow?s=1.5", headers={"apikey": catalog.key}, timeout=10)
        results.append(r.status_code)

    threads = [threading.Thread(target=slow_call) for _ in range(4)]
    for th in threads:
        th.start()
    try:
        wait_for(lambda: gw.gateway.app.inflight == 4, timeout=5)
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as sock:
            answer = _read_until_closed(sock, 5)
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable"), answer[:80]
        assert b'"reason":"too_many_connections"' in answer
        assert b"\r\nRetry-After: 1\r\n" in answer
    finally:
        for th in threads:
            th.join(10)
    assert results == [200] * 4  # the busy ones were never disturbed


# --- a bounded slowloris against a gateway process -----------------------------------

ATTACKERS = 3000
ATTACK_S = 6.0


async def _slowloris(port: int, stop: asyncio.Event, opened: list[int]) -> None:
    """One attacker: open, send a partial head, then a byte a second; reconnect when cut."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        opened[0] += 1
        try:
            writer.write(b"GET /books/v1/a HTTP/1.1\r\nHost: x\r\n")
            while not stop.is_set() and not reader.at_eof():
                writer.write(b"X")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(65536), 1.0)
        except OSError:
            pass
        finally:
            writer.close()


def _attack(port: int, stop: threading.Event, opened: list[int]) -> None:
    async def main() -> None:
        done = asyncio.Event()
        tasks = [asyncio.create_task(_slowloris(port, done, opened)) for _ in range(ATTACKERS)]
        while not stop.is_set():
            await asyncio.sleep(0.05)
        done.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with private_engine(tmp_path) as engine:
        yield engine


@pytest.mark.slow
def test_normal_clients_are_served_during_a_slowloris(
    tmp_path: Path, engine: Engine, upstream: Upstream
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < ATTACKERS + 500:
        pytest.skip(f"needs {ATTACKERS + 500} open files (hard limit {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    key = seed(engine, upstream.url)
    url = engine.url.render_as_string(hide_password=False)
    # Default settings, but only 1024 open files: the attack is three times what the
    # process could hold, so without a cap below its limit it would run out of files.
    gw = GatewayProcess(tmp_path, nofile=1024, database_url=url, spool_dir=str(tmp_path / "spool"))
    stop = threading.Event()
    opened = [0]
    attack = threading.Thread(target=_attack, args=(gw.port, stop, opened))
    latencies: list[float] = []
    statuses: list[int] = []
    try:
        attack.start()
        wait_for(lambda: opened[0] >= ATTACKERS, timeout=20)
        deadline = time.monotonic() + ATTACK_S
        while time.monotonic() < deadline:
            started = time.monotonic()
            with httpx.Client(timeout=10) as client:  # a fresh connection per probe
                r = client.get(gw.url + "/books/v1/a", headers={"apikey": key})
            latencies.append(time.monotonic() - started)
            statuses.append(r.status_code)
            time.sleep(0.1)
        metrics = httpx.get(gw.admin_url() + "/metrics").text
    finally:
        stop.set()
        attack.join(30)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert gw.terminate() == 0
    assert statuses and set(statuses) == {200}, statuses
    assert "tollway_gateway_client_connections_shed_total" in metrics
    print(
        f"\n{opened[0]} slowloris connections opened; {len(latencies)} probes, "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )


def test_a_storm_of_accept_errors_is_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """Out of file descriptors, asyncio reports every failed accept; the gateway's loop
    handler logs the first and counts the rest instead of a traceback each."""
    import errno
    import logging

    from tollway.gateway.server import ResourceErrorLog

    loop = asyncio.new_event_loop()
    try:
        handler = ResourceErrorLog(loop, interval_s=3600)
        loop.set_exception_handler(handler)
        caplog.set_level(logging.ERROR)
        for _ in range(10_000):
            loop.call_exception_handler(
                {
                    "message": "socket.accept() out of system resource",
                    "exception": OSError(errno.EMFILE, "Too many open files"),
                }
            )
        loop.call_exception_handler({"message": "something else", "exception": ValueError()})
        handler.restore()
    finally:
        loop.close()
    resource_lines = [r for r in caplog.records if "out of system resources" in r.getMessage()]
    assert len(resource_lines) == 1
    assert handler.suppressed == 9_999
    assert any("something else" in r.getMessage() for r in caplog.records)  # passed on
