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

from seed import seed  # bench/gateway/seed.py (the script's directory is on sys.path)

HERE = Path(__file__).resolve().parent

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


PIN: dict[str, list[str]] = {"load": [], "proxy": []}
TOTALS: dict[str, int] = {}  # requests completed per URL (wrk's count)


def start_nginx(conf: Path, role: str = "load") -> subprocess.Popen[bytes]:
    return subprocess.Popen([*PIN[role], "nginx", "-c", str(conf), "-g", "daemon off;"])


def wrk(
    url: str,
    *,
    duration: int,
    connections: int,
    threads: int,
    headers: dict[str, str],
    script: Path | None = None,
) -> dict[str, float]:
    cmd = [*PIN["load"], "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
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
    total = int(re.search(r"(\d+) requests in", out).group(1))
    TOTALS[url] = TOTALS.get(url, 0) + total
    return {
        "duration": float(duration),
        "rps": rps,
        "p50_ms": lat("50"),
        "p99_ms": lat("99"),
        "non2xx": float(errors.group(1)) if errors else 0.0,
    }


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) used so far by a process and all its descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
        todo.extend(p for p, (ppid, _) in stats.items() if ppid == pid)
    return total


def tree_cpu_split(root: int) -> tuple[float, float]:
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if int(entry) == root or int(fields[1]) == root:
            user += int(fields[11]) / tick
            system += int(fields[12]) / tick
    return user, system


def measured(pid: int, run):  # type: ignore[no-untyped-def]
    """Run a wrk load and add the proxy's CPU microseconds per request to its result."""
    before = tree_cpu_s(pid)
    split0 = tree_cpu_split(pid)
    result = run()
    used = tree_cpu_s(pid) - before
    split1 = tree_cpu_split(pid)
    n = max(1.0, result["rps"] * result["duration"])
    result["user_us_per_req"] = (split1[0] - split0[0]) * 1e6 / n
    result["sys_us_per_req"] = (split1[1] - split0[1]) * 1e6 / n
    result["cpu_us_per_req"] = used * 1e6 / max(1.0, result["rps"] * result["duration"])
    return result


def paced_script(tmp: Path, rate: float, connections: int) -> Path:
    # wrk has no fixed-rate mode; each connection waits between requests instead.
    delay_ms = connections * 1000.0 / rate
    script = tmp / "paced.lua"
    script.write_text(f"function delay() return {delay_ms:.3f} end\n")
    return script


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--workers",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="worker processes for each nginx and for the gateway (default: one per CPU)",
    )
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", action="store_true", help="run py-spy on the gateway")
    ap.add_argument(
        "--pin",
        action="store_true",
        help="pin the proxy under test (nginx or Tollway) to its own CPUs and wrk plus the "
        "upstream to the others (only meaningful on an otherwise idle machine)",
    )
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    if args.pin and len(cpus) >= 2 and shutil.which("taskset"):
        proxy_cpus = cpus[len(cpus) - max(1, min(args.workers, len(cpus) // 2)) :]
        load_cpus = [c for c in cpus if c not in proxy_cpus]
        PIN["proxy"] = ["taskset", "-c", ",".join(map(str, proxy_cpus))]
        PIN["load"] = ["taskset", "-c", ",".join(map(str, load_cpus))]
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
            role="proxy",
            conf=nginx_conf(
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
            ),
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
        gateway_log = (tmp / "gateway.log").open("wb")  # noqa: SIM115 - lives as long as the run
        gateway = subprocess.Popen(
            [*PIN["proxy"], sys.executable, "-m", "tollway.gateway", json.dumps(settings)],
            env=env,
            stderr=gateway_log,
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
        results["b_nginx_proxy"] = measured(
            proxy.pid,
            lambda: wrk(f"http://127.0.0.1:{px_port}/book.json", headers={}, **common),
        )
        spy = None
        if args.profile and shutil.which(
            "py-spy", path=os.environ.get("PATH", "") + ":" + str(Path(sys.executable).parent)
        ):
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--rate",
                    "250",
                    "--nonblocking",
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
        results["c_tollway"] = measured(
            gateway.pid,
            lambda: wrk(f"http://127.0.0.1:{gw_port}/bench/v1/book.json", headers=auth, **common),
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
        print(f"pinning: proxy under test {PIN['proxy'] or 'unpinned'}, load {PIN['load'] or '-'}")
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
        print(
            "proxy CPU per request: nginx "
            f"{results['b_nginx_proxy']['cpu_us_per_req']:.1f} us, tollway "
            f"{results['c_tollway']['cpu_us_per_req']:.1f} us (gateway incl. metering flush)"
        )
        for name in ("b_nginx_proxy", "c_tollway"):
            r = results[name]
            print(
                f"  {name}: user {r['user_us_per_req']:.1f} us, system {r['sys_us_per_req']:.1f} us"
            )
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
        answered = sum(v for k, v in TOTALS.items() if f":{gw_port}/" in k)
        print(
            f"usage events in the ledger after SIGTERM: {n} "
            f"(wrk completed {answered} calls through Tollway; wrk does not count calls "
            "cut off when a run ends, so the ledger may hold a few more)"
        )
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
