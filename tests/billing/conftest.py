"""Billing fixtures: one Stripe emulator per session (reset per test), a Tollway control
plane served on a loopback port (so the emulator can deliver signed webhooks to it),
and a seeded organization with an API, a paid plan and a consumer."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from stripe_emulator.testing import Emulator, running_emulator
from tests.support.servers import free_port, loopback_socket, serve_handler, serve_in_thread
from tests.support.waiting import wait_until


@pytest.fixture(scope="session")
def _emulator() -> Iterator[Emulator]:
    # Stripe's behaviour, except: the portal settings count as saved (as docs/stripe.md
    # asks of a real account) and the sandbox rate limit is off (the usage worker does
    # not pace itself to 25 writes/s yet).
    with running_emulator(
        webhook_retry_schedule=(0.2, 0.5, 1.0),
        tick_interval=0.2,
        portal_configured=True,
        rate_limit_per_s=None,
    ) as emu:
        yield emu


@pytest.fixture
def emu(_emulator: Emulator) -> Emulator:
    _emulator.reset()
    return _emulator


@pytest.fixture
def immediate_meter_events(emu: Emulator) -> None:
    """Stripe processes meter events asynchronously (the emulator: 5 s later). Tests
    that read usage back right after pushing it ask for processing at once, by name;
    the engine does not yet wait for Stripe's lag (issue 11, items 11-15)."""
    emu.configure(meter_event_delay_s=0)


@pytest.fixture
def realistic_delays(emu: Emulator) -> None:
    """Stripe's lag, shortened so tests stay fast but never zero: meter events reach
    summaries and previews 1 s after Stripe accepted them; renewal invoices stay draft
    for Stripe's hour of clock time (tests advance the test clock past it)."""
    emu.configure(meter_event_delay_s=1)


@pytest.fixture
def immediate_invoice_finalization(emu: Emulator) -> None:
    """Stripe keeps a renewal invoice draft for an hour before it finalizes and charges
    it; tests that advance a test clock just past a period end and expect the charge ask
    for finalization at once, by name."""
    emu.configure(invoice_finalization_grace_s=0)


@pytest.fixture
def stripe_client(emu: Emulator) -> stripe.StripeClient:
    return emu.client()


@pytest.fixture
def public_port() -> Iterator[tuple[socket.socket, int]]:
    """A bound loopback socket for the control plane, so its URL is known before the
    app (and its settings) exist."""
    sock = loopback_socket()
    yield sock, int(sock.getsockname()[1])
    sock.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, emu: Emulator, public_port: Any) -> Any:
    from tollway.settings import load_settings

    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        ssrf_allow=["127.0.0.1/32"],
        stripe_api_base=emu.base_url,
        public_url=f"http://127.0.0.1:{public_port[1]}",
        past_due_grace_s=0,
    )


@pytest.fixture
def served(app: Any, public_port: Any) -> Iterator[str]:
    """The control plane on a real loopback port (webhook target, checkout return)."""
    with serve_in_thread(app, public_port[0]) as server:
        yield server.url


class _Books(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps([{"id": "1", "title": "Dune"}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def upstream() -> Iterator[str]:
    with serve_handler(_Books) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def gateway(settings: Any, ctx: Any) -> Iterator[str]:
    """``tollway gateway`` in its own process, on the same database and data directory."""
    port, admin_port = free_port(), free_port()
    env = {
        **os.environ,
        "TOLLWAY_DATABASE_URL": settings.resolved_database_url,
        "TOLLWAY_GATEWAY_PORT": str(port),
        "TOLLWAY_GATEWAY_ADMIN_PORT": str(admin_port),
        "TOLLWAY_SSRF_ALLOW": '["127.0.0.1/32"]',  # the test upstream is on loopback
    }
    env.pop("TOLLWAY_REDIS_URL", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tollway.cli import main; main()",
            "gateway",
            "--data-dir",
            str(settings.data_dir),
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            httpx.get(url + "/", timeout=1)
            return True
        except httpx.HTTPError:
            return proc.poll() is not None and pytest.fail("the gateway exited")

    try:
        wait_until(up, 60, "the gateway to listen")  # slow to start on a loaded machine
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
