from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
import uvloop

from tests.gateway.upstream_server import Upstream
from tollway.gateway.config_source import MemoryConfigSource
from tollway.gateway.ratelimit import RateLimiter
from tollway.gateway.server import Gateway
from tollway.gateway.settings import GatewaySettings
from tollway.gateway.snapshot import (
    Credential,
    Operation,
    OperationMatcher,
    Plan,
    Route,
    Snapshot,
    Subscription,
    index_subscriptions,
)
from tollway.gateway.snapshot import (
    Upstream as UpstreamTarget,
)
from tollway.metering.ledger import MemoryLedger
from tollway.security.apikeys import generate_api_key

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
T = TypeVar("T")


@contextlib.contextmanager
def private_engine(tmp_path: Path) -> Iterator[Any]:
    """An engine on a fresh schema: a SQLite file, or a private PostgreSQL schema when
    TOLLWAY_TEST_DATABASE_URL is set (the shared database itself is never touched)."""
    from tollway.store import tables as t
    from tollway.store.db import make_engine

    url = os.environ.get("TOLLWAY_TEST_DATABASE_URL")
    if not url:
        engine = make_engine(f"sqlite:///{tmp_path}/gateway.db")
        t.metadata.create_all(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    schema = f"gw_{secrets.token_hex(6)}"
    admin = make_engine(url)
    with admin.begin() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    engine = make_engine(f"{url}{sep}options=-csearch_path%3D{schema}")
    t.metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        try:
            with admin.begin() as c:
                c.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        finally:
            admin.dispose()  # even when the drop fails: no connection left to the GC


@pytest.fixture
def pg_engine(tmp_path: Path) -> Iterator[Any]:
    """PostgreSQL only: skipped without TOLLWAY_TEST_DATABASE_URL, except in CI."""
    url = os.environ.get("TOLLWAY_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        if os.environ.get("CI") == "true":
            pytest.fail("TOLLWAY_TEST_DATABASE_URL must point at PostgreSQL in CI")
        pytest.skip("TOLLWAY_TEST_DATABASE_URL (PostgreSQL) not set")
    with private_engine(tmp_path) as engine:
        yield engine


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    yield up
    up.close()


@dataclass
class Catalog:
    """A small catalog built in memory: one org, API ``books/v1``, one application."""

    upstream_url: str
    key: str = ""
    key_hash: str = ""
    lifecycle: str = "published"
    state: str = "active"
    plan: Plan = field(default_factory=lambda: Plan("plan_1", "month", None, None, None, "overage"))
    operations: list[Operation] = field(default_factory=list)
    usage_header: bytes | None = b"x-usage-units"
    version: int = 1
    revoked: bool = False
    extra_routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    public_keys: dict[str, str] = field(default_factory=dict)
    clients: dict[str, Credential] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.key:
            generated = generate_api_key("production")
            self.key, self.key_hash = generated.raw, generated.hash

    def snapshot(self) -> Snapshot:
        route = Route(
            api_id="api_1",
            organization_id="org_1",
            context="books",
            version="v1",
            lifecycle=self.lifecycle,
            usage_header=self.usage_header,
            upstreams={
                "production": UpstreamTarget.parse(self.upstream_url + "/base"),
                "development": UpstreamTarget.parse(self.upstream_url + "/dev"),
            },
            matcher=OperationMatcher(self.operations),
            label="books/v1",
        )
        cred = Credential("key_1", "key", "app_1", "production", "usr_1")
        sub = Subscription("sub_1", "app_1", "api_1", self.plan.id, "usr_1", self.state, ANCHOR)
        return Snapshot(
            version=self.version,
            routes={("books", "v1"): route, **self.extra_routes},
            keys={} if self.revoked else {self.key_hash: cred},
            clients=dict(self.clients),
            subscriptions=index_subscriptions([sub]),
            plans={self.plan.id: self.plan},
            public_keys=dict(self.public_keys),
        )


class GatewayThread:
    """A gateway serving on an ephemeral port from its own uvloop thread."""

    def __init__(
        self,
        settings: GatewaySettings,
        snapshot: Snapshot | None,
        ledger: MemoryLedger | None,
        limiter: RateLimiter | None = None,
        *,
        source_factory: Any = None,
        ledger_obj: Any = None,
    ) -> None:
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        # the ledger the tests read (unused when ``ledger_obj`` writes elsewhere)
        self.ledger = ledger if ledger is not None else MemoryLedger()

        async def build() -> Gateway:
            self.source = source_factory() if source_factory else MemoryConfigSource(snapshot)
            gw = Gateway(settings, source=self.source, ledger=ledger_obj or ledger, limiter=limiter)
            await gw.start()
            return gw

        self.gateway = self.call(build())
        self.port = self.gateway.port
        self.url = f"http://127.0.0.1:{self.port}"

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def set_snapshot(self, snapshot: Snapshot) -> None:
        done = threading.Event()

        def apply() -> None:
            self.gateway.app.apply(snapshot)
            done.set()

        self.loop.call_soon_threadsafe(apply)
        assert done.wait(5)

    def flush(self) -> int:
        return self.call(self.gateway.flush())

    def stop(self) -> None:
        self.call(self.gateway.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def catalog(upstream: Upstream) -> Catalog:
    return Catalog(upstream.url)


@pytest.fixture
def settings(tmp_path: Path) -> GatewaySettings:
    return GatewaySettings(
        host="127.0.0.1",
        port=0,
        admin_port=0,
        spool_dir=str(tmp_path / "spool"),
        upstream_timeout_s=1.0,
        connect_timeout_s=1.0,
        max_body_bytes=1024 * 1024,
        flush_interval_s=0.1,
    )


class MakeGateway(Protocol):
    def __call__(
        self, snapshot: Snapshot, limiter: RateLimiter | None = None, **overrides: Any
    ) -> GatewayThread: ...


@pytest.fixture
def make_gateway(settings: GatewaySettings) -> Iterator[MakeGateway]:
    started: list[GatewayThread] = []

    def make(
        snapshot: Snapshot, limiter: RateLimiter | None = None, **overrides: Any
    ) -> GatewayThread:
        gw = GatewayThread(replace(settings, **overrides), snapshot, MemoryLedger(), limiter)
        started.append(gw)
        return gw

    yield make
    for gw in started:
        with contextlib.suppress(Exception):
            gw.stop()


@pytest.fixture
def gateway(make_gateway: MakeGateway, catalog: Catalog) -> GatewayThread:
    return make_gateway(catalog.snapshot())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrivateRedis:
    """A Redis server of our own (no persistence), so that stopping, flushing or
    restarting it disturbs nobody else."""

    directory: Path
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )
        from tests.gateway.helpers import wait_for

        wait_for(self._up)

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server must be installed in CI")
        pytest.skip("redis-server not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()
