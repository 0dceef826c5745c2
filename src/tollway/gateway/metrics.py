"""Prometheus metrics of one gateway process (own registry, served on the admin port).

The hot path only bumps plain integers and lists (no locks, no label look-ups); a
custom collector turns them into Prometheus families when ``/metrics`` is scraped.
Everything runs on the event loop thread, so no synchronisation is needed.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class FastHistogram:
    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        cumulative = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip(self.bounds, self.counts, strict=False):
            cumulative += count
            buckets.append((repr(bound), float(cumulative)))
        cumulative += self.counts[-1]
        buckets.append(("+Inf", float(cumulative)))
        return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=self.total)


class FastCounter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class FastGauge:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def set(self, value: float) -> None:
        self.value = float(value)

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount


class LabelledCounter:
    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def inc(self, label: str, amount: float = 1.0) -> None:
        self.values[label] = self.values.get(label, 0.0) + amount


class GatewayMetrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.latency = FastHistogram(LATENCY_BUCKETS)
        self.upstream_latency = FastHistogram(LATENCY_BUCKETS)
        self.rate_limited = LabelledCounter()
        self.limit_store_errors = FastCounter()
        self.events_pending = FastGauge()
        self.events_flushed = FastCounter()
        self.flush_errors = FastCounter()
        self.config_version = FastGauge()
        self.fanout_lag = FastHistogram(LAG_BUCKETS)
        self.connections = FastGauge()
        self.recording_ok = FastGauge()
        self.spool_free_bytes = FastGauge()
        self.spool_write_errors = FastCounter()
        self.backlog_events = FastGauge()
        self.client_closes = LabelledCounter()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def count(self, api: str, status: int) -> None:
        key = (api, status)
        self.requests[key] = self.requests.get(key, 0) + 1

    def collect(self) -> Iterator[Metric]:
        req = CounterMetricFamily(
            "tollway_gateway_requests",
            "Calls answered by the gateway, by API and status code.",
            labels=["api", "status"],
        )
        for (api, status), n in sorted(self.requests.items()):
            req.add_metric([api, str(status)], float(n))
        yield req
        yield self.latency.family(
            "tollway_gateway_request_duration_seconds", "Total time in the gateway per call."
        )
        yield self.upstream_latency.family(
            "tollway_gateway_upstream_duration_seconds",
            "Time from sending the request upstream to its response headers.",
        )
        limited = CounterMetricFamily(
            "tollway_gateway_rate_limited",
            "Calls refused by rate limits (rate), quotas (quota) or a down limit store.",
            labels=["reason"],
        )
        for reason, value in sorted(self.rate_limited.values.items()):
            limited.add_metric([reason], value)
        yield limited
        yield CounterMetricFamily(
            "tollway_gateway_limit_store_errors",
            "Rate-limit store (Redis) failures; calls follow the failure mode.",
            value=self.limit_store_errors.value,
        )
        yield GaugeMetricFamily(
            "tollway_gateway_usage_events_pending",
            "Usage events spooled by this process and not yet in the ledger.",
            value=self.events_pending.value,
        )
        yield CounterMetricFamily(
            "tollway_gateway_usage_events_flushed",
            "Usage events written to the ledger by this process (including replays).",
            value=self.events_flushed.value,
        )
        yield CounterMetricFamily(
            "tollway_gateway_usage_flush_errors",
            "Failed ledger flushes (retried on the next interval).",
            value=self.flush_errors.value,
        )
        yield GaugeMetricFamily(
            "tollway_gateway_config_version",
            "Configuration version in use.",
            value=self.config_version.value,
        )
        yield self.fanout_lag.family(
            "tollway_gateway_config_fanout_lag_seconds",
            "Time from a configuration change notice to the new snapshot serving calls.",
        )
        yield GaugeMetricFamily(
            "tollway_gateway_client_connections",
            "Open client connections.",
            value=self.connections.value,
        )
        yield GaugeMetricFamily(
            "tollway_gateway_usage_recording_ok",
            "1 while usage can be recorded; 0 while calls are refused with 503 (disk full).",
            value=self.recording_ok.value,
        )
        yield GaugeMetricFamily(
            "tollway_gateway_spool_free_bytes",
            "Free bytes on the spool's file system (last check).",
            value=self.spool_free_bytes.value,
        )
        yield CounterMetricFamily(
            "tollway_gateway_spool_write_errors",
            "Spool writes the operating system refused (retried; no event is dropped).",
            value=self.spool_write_errors.value,
        )
        yield GaugeMetricFamily(
            "tollway_gateway_usage_backlog_events",
            "Usage events accepted but waiting in memory for the disk (kept, in order).",
            value=self.backlog_events.value,
        )
        shed = CounterMetricFamily(
            "tollway_gateway_client_connections_shed",
            "Client connections closed by the gateway: header_timeout, idle_timeout, "
            "evicted_waiting / evicted_idle (to make room at the cap), refused_at_cap.",
            labels=["reason"],
        )
        for reason, value in sorted(self.client_closes.values.items()):
            shed.add_metric([reason], value)
        yield shed

    def render(self) -> bytes:
        return generate_latest(self.registry)
