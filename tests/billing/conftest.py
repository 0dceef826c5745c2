"""Billing fixtures: one Stripe emulator per session (reset per test), a Tollway control
plane served on a loopback port (so the emulator can deliver signed webhooks to it),
and a seeded organization with an API, a paid plan and a consumer."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stripe

from stripe_emulator.testing import Emulator, running_emulator
from tests.billing.published import books_upstream, running_gateway
from tests.support.servers import loopback_socket, serve_in_thread


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


@pytest.fixture
def upstream() -> Iterator[str]:
    """The Books upstream on a loopback port."""
    with books_upstream() as url:
        yield url


@pytest.fixture
def gateway(settings: Any, ctx: Any) -> Iterator[str]:
    """``tollway gateway`` in its own process, on the same database and data directory."""
    with running_gateway(settings) as url:
        yield url
