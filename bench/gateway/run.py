"""Gateway benchmark: nginx upstream, nginx proxy_pass, Tollway gateway, same wrk load.

    .venv/bin/python bench/gateway/run.py [--workers 1] [--duration 10] [--connections 64]

Needs nginx and wrk (``apt-get install -y nginx wrk``). Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from seed import seed  # noqa: E402

BODY = '{"id":42,"title":"The Left Hand of Darkness","author":"Ursula K. Le Guin","year":1969}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def nginx_conf(tmp: Path, name: str, workers: int, server_block: str) -> Path:
    conf = tmp / f"{name}.conf"
    conf.write_text(f"""
worker_processes {workers};
pid {tmp}/{name}.pid;
error_log {tmp}/{name}.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/{name}-body;
  proxy_temp_path {tmp}/{name}-proxy;
  fastcgi_temp_path {tmp}/{name}-fcgi;
  uwsgi_temp_path {tmp}/{name}-uwsgi;
  scgi_temp_path {tmp}/{name}-scgi;
  keepalive_requests 1000000;
  {server_block}
}}
""")
    return conf


def start_nginx(conf: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["nginx", "-c", str(conf), "-g", "daemon off;"])


def wrk(
    url: str,
    *,
    duration: int,
    connections: int,
    threads: int,
    headers: dict[str, str],
    script: Path | None = None,
) -> dict[str, float]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def lat(pct: str) -> float:
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": lat("50"),
        "p99_ms": lat("99"),
        "non2xx": float(errors.group(1)) if errors else 0.0,
    }


def paced_script(tmp: Path, rate: float, connections: int) -> Path:
    # wrk has no fixed-rate mode; each connection waits between requests instead.
    delay_ms = connections * 1000.0 / rate
    script = tmp / "paced.lua"
    script.write_text(f"function delay() return {delay_ms:.3f} end\n")
    return script


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", action="store_true", help="run py-spy on the gateway")
    args = ap.parse_args()
    missing = [tool for tool in ("nginx", "wrk") if shutil.which(tool) is None]
    if missing:
        print(
            f"missing: {', '.join(missing)}. Install with:\n"
            "  apt-get update && apt-get install -y nginx wrk",
            file=sys.stderr,
        )
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="tollway-bench-"))
    up_port, px_port, gw_port = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        upstream = start_nginx(
            nginx_conf(
                tmp,
                "upstream",
                args.workers,
                f"""
  server {{
    listen 127.0.0.1:{up_port} reuseport backlog=4096;
    location / {{ default_type application/json; return 200 '{BODY}'; }}
  }}""",
            )
        )
        procs.append(upstream)
        proxy = start_nginx(
            nginx_conf(
                tmp,
                "proxy",
                args.workers,
                f"""
  upstream app {{ server 127.0.0.1:{up_port}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{px_port} reuseport backlog=4096;
    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}""",
            )
        )
        procs.append(proxy)
        db = f"sqlite:///{tmp}/bench.db"
        key = seed(db, f"http://127.0.0.1:{up_port}")
        settings = {
            "host": "127.0.0.1",
            "port": gw_port,
            "admin_port": 0,
            "database_url": db,
            "spool_dir": str(tmp / "spool"),
            "workers": args.workers,
            **json.loads(os.environ.get("BENCH_GATEWAY_SETTINGS", "{}")),
        }
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        gateway = subprocess.Popen(
            [sys.executable, "-m", "tollway.gateway", json.dumps(settings)],
            env=env,
            stderr=open(tmp / "gateway.log", "wb"),
        )
        procs.append(gateway)
        for port in (up_port, px_port, gw_port):
            wait_port(port)
        common = dict(duration=args.duration, connections=args.connections, threads=args.threads)
        auth = {"apikey": key}
        # warm up
        wrk(
            f"http://127.0.0.1:{gw_port}/bench/v1/book.json",
            headers=auth,
            duration=2,
            connections=args.connections,
            threads=args.threads,
        )
        results = {}
        results["a_nginx_static"] = wrk(
            f"http://127.0.0.1:{up_port}/book.json", headers={}, **common
        )
        results["b_nginx_proxy"] = wrk(
            f"http://127.0.0.1:{px_port}/book.json", headers={}, **common
        )
        spy = None
        if args.profile and shutil.which(
            "py-spy", path=os.environ.get("PATH", "") + ":" + str(Path(sys.executable).parent)
        ):
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--format",
                    "raw",
                    "-o",
                    str(HERE / "profile.txt"),
                    "-d",
                    str(args.duration),
                    "--subprocesses",
                    "-p",
                    str(gateway.pid),
                ]
            )
        results["c_tollway"] = wrk(
            f"http://127.0.0.1:{gw_port}/bench/v1/book.json", headers=auth, **common
        )
        if spy is not None:
            spy.wait()
        half = results["c_tollway"]["rps"] / 2
        paced_c = 16
        script = paced_script(tmp, half, paced_c)
        paced = dict(duration=args.duration, connections=paced_c, threads=2)
        results["b_nginx_proxy_at_half"] = wrk(
            f"http://127.0.0.1:{px_port}/book.json", headers={}, script=script, **paced
        )
        results["c_tollway_at_half"] = wrk(
            f"http://127.0.0.1:{gw_port}/bench/v1/book.json", headers=auth, script=script, **paced
        )
        print(f"workers={args.workers} connections={args.connections} duration={args.duration}s")
        print(f"{'target':<24}{'req/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
        for name, r in results.items():
            print(
                f"{name:<24}{r['rps']:>12.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}"
                f"{r['non2xx']:>10.0f}"
            )
        ratio = results["c_tollway"]["rps"] / results["b_nginx_proxy"]["rps"]
        ratio_static = results["c_tollway"]["rps"] / results["a_nginx_static"]["rps"]
        dp99 = results["c_tollway_at_half"]["p99_ms"] - results["b_nginx_proxy_at_half"]["p99_ms"]
        print(f"ratio tollway / nginx proxy_pass = {ratio:.2f}")
        print(f"ratio tollway / nginx static     = {ratio_static:.2f}")
        print(
            f"p99 at half of Tollway's peak ({half:.0f} req/s offered): "
            f"tollway - nginx = {dp99:+.2f} ms"
        )
        # metering check: every call the gateway answered is in the ledger after the stop
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(30)
        from sqlalchemy import create_engine, text

        with create_engine(db).connect() as c:
            n = c.execute(text("select count(*) from usage_events")).scalar()
        print(f"usage events in the ledger after SIGTERM: {n}")
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
