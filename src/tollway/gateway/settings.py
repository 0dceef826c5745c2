"""Gateway settings: plain data, filled by the CLI from ``TOLLWAY_*`` configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    host: str = "0.0.0.0"  # noqa: S104 - the gateway is meant to be reachable
    port: int = 8080
    admin_port: int = 9090  # Prometheus /metrics and /healthz; 0 = any free port, -1 = off
    admin_host: str = "127.0.0.1"
    api_key_header: str = "apikey"
    upstream_timeout_s: float = 30.0  # idle time allowed while waiting for upstream bytes
    connect_timeout_s: float = 5.0
    max_body_bytes: int = 10 * 1024 * 1024  # request body limit -> 413
    max_header_bytes: int = 64 * 1024
    spool_dir: str = "./data/spool"
    spool_min_free_bytes: int = 16 * 1024 * 1024  # below this on the spool's disk -> 503
    flush_interval_s: float = 0.5
    flush_batch_size: int = 5000
    flush_worker: bool = True  # ledger writes in a separate process (with a database_url)
    rate_limit_failure_mode: Literal["open", "closed"] = "open"
    redis_url: str | None = None
    database_url: str | None = None
    poll_interval_s: float = 0.25  # config_version polling when no push channel exists
    drain_timeout_s: float = 10.0
    keepalive_timeout_s: float = 75.0  # idle client connection lifetime
    header_timeout_s: float = 10.0  # a request head must arrive within this -> 408
    body_timeout_s: float = 30.0  # longest pause while a request body arrives -> 408
    max_connections: int = 0  # client connections per process; 0 = from the open-files limit
    upstream_pool_size: int = 256  # idle pooled connections kept per upstream
    workers: int = 1  # processes sharing the port with SO_REUSEPORT (main_gateway only)
    access_log: bool = False  # one JSON line per call (costs throughput)
    # SSRF check of upstream addresses at connect time (DNS rebinding): None = off (the
    # control plane vets upstream URLs when they are registered); a list (possibly empty)
    # = on, with these CIDRs, addresses or host names allowed (Settings.ssrf_allow).
    ssrf_allow: tuple[str, ...] | None = None
    control_plane_url: str = ""  # base URL of the control plane, for links in 402 bodies
