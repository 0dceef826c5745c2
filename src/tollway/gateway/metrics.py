"""Prometheus metrics of one gateway process (own registry, served on the admin port)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tollway_gateway_requests_total",
            "Calls answered by the gateway, by API and status code.",
            ["api", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "tollway_gateway_request_duration_seconds",
            "Total time in the gateway per proxied call.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_latency = Histogram(
            "tollway_gateway_upstream_duration_seconds",
            "Time from sending the request upstream to its response headers.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rate_limited = Counter(
            "tollway_gateway_rate_limited_total",
            "Calls refused with 429 (rate) or 429 (quota) or 503 (limit store down).",
            ["reason"],
            registry=r,
        )
        self.limit_store_errors = Counter(
            "tollway_gateway_limit_store_errors_total",
            "Rate-limit store (Redis) failures; the call follows the failure mode.",
            registry=r,
        )
        self.events_pending = Gauge(
            "tollway_gateway_usage_events_pending",
            "Usage events spooled by this process and not yet in the ledger.",
            registry=r,
        )
        self.events_flushed = Counter(
            "tollway_gateway_usage_events_flushed_total",
            "Usage events written to the ledger by this process (including replays).",
            registry=r,
        )
        self.flush_errors = Counter(
            "tollway_gateway_usage_flush_errors_total",
            "Failed ledger flushes (retried on the next interval).",
            registry=r,
        )
        self.config_version = Gauge(
            "tollway_gateway_config_version", "Configuration version in use.", registry=r
        )
        self.fanout_lag = Histogram(
            "tollway_gateway_config_fanout_lag_seconds",
            "Time from a configuration change notice to the new snapshot serving calls.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r,
        )
        self.connections = Gauge(
            "tollway_gateway_client_connections", "Open client connections.", registry=r
        )
        self._children: dict[tuple[str, int], Counter] = {}

    def count(self, api: str, status: int) -> None:
        key = (api, status)
        child = self._children.get(key)
        if child is None:
            child = self.requests.labels(api, str(status))
            self._children[key] = child
        child.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
