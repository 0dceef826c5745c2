"""Fault runs against real gateway processes, from the outside (not part of the tests):

    .venv/bin/python bench/gateway/faults.py burst [--limit 30] [--factor 10]
    .venv/bin/python bench/gateway/faults.py diskfull        # needs root (mounts a tmpfs)
    .venv/bin/python bench/gateway/faults.py slowloris [--connections 20000] [--seconds 20]

* burst: two ``tollway gateway --workers 2`` sharing a private Redis; ``factor × limit``
  calls fired at once, for a hard quota and for a rate limit (failure mode ``closed``).
  Prints admitted vs limit, other statuses, and the ledger count after SIGTERM.
* diskfull: one gateway whose spool is on an 8 MiB tmpfs, under a steady load; the
  tmpfs is filled, held full for 5 s, then freed. Prints the time to the first 503, the
  time to recover, and the 2xx the clients got against the events in the ledger.
* slowloris: ``tollway gateway --workers 2``; probe latency (a fresh connection per
  probe) before and during N slowloris connections (partial heads, a byte a second,
  reconnecting when cut), opened from several processes to stay under the open-files
  limit. Prints p50 / p99 / max and failures, and what the gateway shed.

Everything runs on 127.0.0.1 with a small asyncio upstream of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from seed import seed  # bench/gateway/seed.py (the script's directory is on sys.path)
from sqlalchemy import create_engine, text

TOLLWAY = str(Path(sys.executable).with_name("tollway"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


# --- a tiny upstream -----------------------------------------------------------------
async def _upstream_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    body = b'{"ok":true}'
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if b"s=" in head.split(b"\r\n", 1)[0]:
                await asyncio.sleep(float(head.split(b"s=", 1)[1].split()[0].split(b"&")[0]))
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _serve_upstream(port: int) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_upstream_conn, "127.0.0.1", port, backlog=4096)
        await server.serve_forever()

    asyncio.run(main())


def start_upstream() -> tuple[multiprocessing.Process, int]:
    port = free_port()
    proc = multiprocessing.Process(target=_serve_upstream, args=(port,), daemon=True)
    proc.start()
    wait_port(port)
    return proc, port


# --- processes -----------------------------------------------------------------------
def tollway_gateway(
    tmp: Path, name: str, workers: int, **env: str
) -> tuple[subprocess.Popen[bytes], int, int]:
    port, admin = free_port(), free_port()
    full_env = {
        **os.environ,
        "TOLLWAY_GATEWAY_HOST": "127.0.0.1",
        "TOLLWAY_GATEWAY_PORT": str(port),
        "TOLLWAY_GATEWAY_ADMIN_PORT": str(admin),
        "TOLLWAY_SSRF_ALLOW": '["127.0.0.1"]',
        **{f"TOLLWAY_{k.upper()}": v for k, v in env.items()},
    }
    log = (tmp / f"{name}.log").open("wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [TOLLWAY, "gateway", "--data-dir", str(tmp / name), "--workers", str(workers)],
        env=full_env,
        stdout=log,
        stderr=log,
    )
    wait_port(port)
    return proc, port, admin


def ledger_count(db: str) -> int:
    engine = create_engine(db)
    with engine.connect() as c:
        n = int(c.execute(text("select count(*) from usage_events")).scalar() or 0)
    engine.dispose()
    return n


def ledger_ids(db: str) -> set[str]:
    engine = create_engine(db)
    with engine.connect() as c:
        ids = {row[0] for row in c.execute(text("select event_id from usage_events"))}
    engine.dispose()
    return ids


# --- burst ---------------------------------------------------------------------------
async def _fire(urls: list[str], key: str, n: int) -> Counter[int]:
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one(i: int) -> int:
            try:
                r = await client.get(urls[i % len(urls)] + "/bench/v1/a", headers={"apikey": key})
            except httpx.HTTPError:
                return -1
            return r.status_code

        return Counter(await asyncio.gather(*(one(i) for i in range(n))))


def burst(args: argparse.Namespace) -> None:
    if shutil.which("redis-server") is None:
        sys.exit("needs redis-server")
    tmp = Path(tempfile.mkdtemp(prefix="tollway-burst-"))
    upstream, up_port = start_upstream()
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    wait_port(redis_port)
    try:
        for kind in ("quota", "rate"):
            db = f"sqlite:///{tmp}/{kind}.db"
            if kind == "quota":
                key = seed(db, f"http://127.0.0.1:{up_port}", rate_limit=None, quota=args.limit)
            else:
                key = seed(
                    db, f"http://127.0.0.1:{up_port}", rate_limit=args.limit, rate_unit="hour"
                )
            env = {
                "database_url": db,
                "redis_url": f"redis://127.0.0.1:{redis_port}/{1 if kind == 'rate' else 0}",
                "rate_limit_failure_mode": "closed",
            }
            gws = [tollway_gateway(tmp, f"{kind}{i}", 2, **env) for i in range(2)]
            n = args.limit * args.factor
            started = time.monotonic()
            codes = asyncio.run(_fire([f"http://127.0.0.1:{p}" for _, p, _ in gws], key, n))
            took = time.monotonic() - started
            for proc, _, _ in gws:
                proc.send_signal(signal.SIGTERM)
            for proc, _, _ in gws:
                proc.wait(60)
            print(
                f"{kind}: {n} calls at once through 2 gateways x 2 workers in {took:.2f} s: "
                f"admitted {codes[200]} (limit {args.limit}), 429 {codes[429]}, "
                f"503 {codes[503]}, other {n - codes[200] - codes[429] - codes[503]}; "
                f"ledger {ledger_count(db)}"
            )
    finally:
        redis.terminate()
        upstream.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


# --- disk full -----------------------------------------------------------------------
def diskfull(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tollway-diskfull-"))
    mount = tmp / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    upstream, up_port = start_upstream()
    db = f"sqlite:///{tmp}/ledger.db"
    key = seed(db, f"http://127.0.0.1:{up_port}")
    port = free_port()
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "admin_port": -1,
        "database_url": db,
        "spool_dir": str(mount / "spool"),
        "spool_min_free_bytes": 1024 * 1024,
    }
    gw = subprocess.Popen(
        [sys.executable, "-m", "tollway.gateway", json.dumps(settings)],
        stderr=(tmp / "gateway.log").open("wb"),
    )
    wait_port(port)
    events: list[tuple[float, int, str]] = []  # (time, status, event id)

    async def load(stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=60) as client:

            async def worker() -> None:
                while not stop.is_set():
                    try:
                        r = await client.get(
                            f"http://127.0.0.1:{port}/bench/v1/a", headers={"apikey": key}
                        )
                    except httpx.HTTPError:
                        events.append((time.monotonic(), -1, ""))
                        continue
                    events.append(
                        (time.monotonic(), r.status_code, r.headers.get("x-request-id", ""))
                    )
                    if r.status_code != 200:
                        await asyncio.sleep(0.01)

            await asyncio.gather(*(worker() for _ in range(8)))

    async def main() -> dict[str, float]:
        stop = asyncio.Event()
        task = asyncio.create_task(load(stop))
        await asyncio.sleep(2)
        fill_started = time.monotonic()
        filler = mount / "filler"
        await asyncio.to_thread(_fill, filler)
        filled = time.monotonic()
        await asyncio.sleep(5)
        filler.unlink()
        freed = time.monotonic()
        await asyncio.sleep(3)
        stop.set()
        await task
        return {"fill_started": fill_started, "filled": filled, "freed": freed}

    marks = asyncio.run(main())
    gw.send_signal(signal.SIGTERM)
    gw.wait(60)
    first_503 = next(t for t, s, _ in events if s == 503 and t >= marks["fill_started"])
    recovered = next(t for t, s, _ in events if s == 200 and t >= marks["freed"])
    served = {"ue_" + rid for _, s, rid in events if s == 200}
    statuses = Counter(s for _, s, _ in events)
    ids = ledger_ids(db)
    print(
        f"first 503 {1000 * (first_503 - marks['filled']):+.0f} ms after the disk was full "
        f"({1000 * (first_503 - marks['fill_started']):.0f} ms after the fill began); "
        f"first 200 {1000 * (recovered - marks['freed']):.0f} ms after space returned"
    )
    print(
        f"statuses {dict(statuses)}; 2xx served {len(served)}, events in the ledger {len(ids)}, "
        f"2xx missing from the ledger {len(served - ids)}, ledger events without a 2xx "
        f"{len(ids - served)}"
    )
    upstream.terminate()
    subprocess.run(["umount", "-l", str(mount)], check=False)
    shutil.rmtree(tmp, ignore_errors=True)


def _fill(path: Path) -> None:
    with path.open("wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)


# --- slowloris -----------------------------------------------------------------------
def _attacker(port: int, connections: int, seconds: float, opened: multiprocessing.Value) -> None:  # type: ignore[valid-type]
    resource.setrlimit(resource.RLIMIT_NOFILE, (connections + 200,) * 2)

    async def one(stop: float) -> None:
        while time.monotonic() < stop:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            with opened.get_lock():
                opened.value += 1
            try:
                writer.write(b"GET /bench/v1/a HTTP/1.1\r\nHost: x\r\n")
                while time.monotonic() < stop and not reader.at_eof():
                    writer.write(b"X")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(reader.read(65536), 1.0)
            except OSError:
                pass
            finally:
                writer.close()

    async def main() -> None:
        stop = time.monotonic() + seconds
        await asyncio.gather(*(one(stop) for _ in range(connections)), return_exceptions=True)

    asyncio.run(main())


def _probe(port: int, key: str, seconds: float) -> tuple[list[float], int]:
    """A fresh connection per probe (raw socket: no client library start-up in the
    figure), 20 probes a second."""
    request = (
        f"GET /bench/v1/a HTTP/1.1\r\nHost: x\r\napikey: {key}\r\nConnection: close\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    failures = 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        started = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(request)
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            if data.startswith(b"HTTP/1.1 200 "):
                latencies.append(time.monotonic() - started)
            else:
                failures += 1
        except OSError:
            failures += 1
        time.sleep(0.05)
    return latencies, failures


def _summary(latencies: list[float], failures: int) -> str:
    if not latencies:
        return f"no successful probe, {failures} failed"
    q = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) > 1
        else latencies * 99
    )
    return (
        f"{len(latencies)} probes ok, {failures} failed; "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {q[98] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )


def slowloris(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tollway-slowloris-"))
    upstream, up_port = start_upstream()
    db = f"sqlite:///{tmp}/catalog.db"
    key = seed(db, f"http://127.0.0.1:{up_port}")
    proc, port, admin = tollway_gateway(tmp, "gw", 2, database_url=db)
    try:
        print("before:", _summary(*_probe(port, key, 3)))
        opened = multiprocessing.Value("i", 0)
        per = 10_000
        attackers = [
            multiprocessing.Process(
                target=_attacker,
                args=(port, min(per, args.connections - i), args.seconds + 10, opened),
            )
            for i in range(0, args.connections, per)
        ]
        for a in attackers:
            a.start()
        deadline = time.monotonic() + 30
        while opened.value < args.connections and time.monotonic() < deadline:
            time.sleep(0.2)
        print(f"{opened.value} slowloris connections opened; probing for {args.seconds} s")
        during = _probe(port, key, args.seconds)
        shed = Counter[str]()
        for i in range(2):
            with contextlib.suppress(httpx.HTTPError):
                for line in httpx.get(f"http://127.0.0.1:{admin + i}/metrics").text.splitlines():
                    if line.startswith("tollway_gateway_client_connections_shed_total{"):
                        shed[line.split('"')[1]] += int(float(line.split()[-1]))
        print(f"during ({opened.value} connections opened in all):", _summary(*during))
        print(f"shed by the gateway: {dict(shed)}")
        for a in attackers:
            a.terminate()
            a.join(10)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        upstream.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="run", required=True)
    b = sub.add_parser("burst")
    b.add_argument("--limit", type=int, default=30)
    b.add_argument("--factor", type=int, default=10)
    sub.add_parser("diskfull")
    s = sub.add_parser("slowloris")
    s.add_argument("--connections", type=int, default=20_000)
    s.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    {"burst": burst, "diskfull": diskfull, "slowloris": slowloris}[args.run](args)


if __name__ == "__main__":
    main()
