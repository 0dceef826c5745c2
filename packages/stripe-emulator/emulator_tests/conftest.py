"""Fixtures: one emulator per test session (reset before each test) and a webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import httpx
import pytest
import stripe

from stripe_emulator.testing import Emulator, running_emulator

Interval = Literal["day", "week", "month", "year"]


#: What the shared emulator relaxes, by name: meter events are visible at once and the
#: sandbox rate limit is off. Tests of those behaviours start their own emulator with
#: Stripe's defaults (see test_strict.py).
RELAXED: dict[str, Any] = {"meter_event_delay_s": 0, "rate_limit_per_s": None}


@pytest.fixture(scope="session")
def _emulator() -> Iterator[Emulator]:
    with running_emulator(
        webhook_retry_schedule=(0.2, 0.4, 0.8), tick_interval=0.2, **RELAXED
    ) as emu:
        yield emu


@pytest.fixture
def emu(_emulator: Emulator) -> Emulator:
    _emulator.reset()
    return _emulator


@pytest.fixture
def client(emu: Emulator) -> stripe.StripeClient:
    return emu.client()


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, trust_env=False, timeout=30) as c:
        yield c


class Receiver:
    """A loopback HTTP server that records webhook deliveries."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []  # statuses to answer first, then 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.requests.append(
                        {"headers": dict(self.headers), "body": body, "status": status}
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def events(self, ok_only: bool = True) -> list[dict[str, Any]]:
        with self.lock:
            return [
                json.loads(r["body"]) for r in self.requests if not ok_only or r["status"] == 200
            ]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            if predicate(events):
                return events
            time.sleep(0.02)
        raise AssertionError(
            f"webhooks not received in time; got {[e['type'] for e in self.events()]}"
        )

    def wait_types(self, *types: str, timeout: float = 10) -> list[dict[str, Any]]:
        return self.wait_for(lambda evs: set(types) <= {e["type"] for e in evs}, timeout)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def endpoint(client: stripe.StripeClient, receiver: Receiver) -> tuple[Receiver, str]:
    we = client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["*"]})
    assert we.secret is not None
    return receiver, we.secret


def pay_checkout(
    http: httpx.Client, url: str, card: str, email: str = "buyer@example.com"
) -> httpx.Response:
    """Submit the hosted checkout page's form like a browser would."""
    page = http.get(url)
    assert page.status_code == 200 and "development tool" in page.text
    return http.post(
        url,
        data={"email": email, "name": "Ada", "card_number": card, "expiry": "12/34", "cvc": "123"},
    )


def flat_price(
    client: stripe.StripeClient, product: str, unit_amount: int, interval: Interval = "month"
) -> str:
    """A licensed recurring price in USD; returns its id."""
    return client.v1.prices.create(
        params={
            "product": product,
            "currency": "usd",
            "unit_amount": unit_amount,
            "recurring": {"interval": interval},
        }
    ).id


def card_customer(
    client: stripe.StripeClient, pm: str = "pm_card_visa", **params: Any
) -> stripe.Customer:
    """A customer whose default payment method is the magic test card ``pm``."""
    return client.v1.customers.create(
        params={"payment_method": pm, "invoice_settings": {"default_payment_method": pm}, **params}
    )
