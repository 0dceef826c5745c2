"""Run the emulator in a background thread for tests: ``with running_emulator() as emu:``."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn

from .app import create_app, runtime_of
from .runtime import Runtime
from .settings import EmulatorSettings

if TYPE_CHECKING:  # the SDK is an optional extra (stripe-emulator[sdk])
    import stripe


@dataclass
class Emulator:
    """A running emulator: its URL, keys and helpers for the /_emulator endpoints."""

    base_url: str
    api_key: str
    publishable_key: str
    runtime: Runtime = field(repr=False)

    @property
    def account_id(self) -> str:
        return self.runtime.state.account_id

    def _admin(self, method: str, path: str, json: Any = None) -> Any:
        with httpx.Client(base_url=self.base_url, timeout=30, trust_env=False) as http:
            resp = http.request(method, path, json=json, headers={"Accept": "application/json"})
            resp.raise_for_status()
            return resp.json()

    def reset(self) -> None:
        """Forget every object, event, meter event and restricted key."""
        self._admin("POST", "/_emulator/reset")

    def client(self, api_key: str | None = None, **kwargs: Any) -> stripe.StripeClient:
        """An official ``stripe.StripeClient`` pointed at this emulator (needs the SDK)."""
        import stripe

        base = self.base_url
        kwargs.setdefault("max_network_retries", 0)
        return stripe.StripeClient(
            api_key or self.api_key,
            base_addresses={"api": base, "connect": base, "files": base, "meter_events": base},
            **kwargs,
        )

    def restricted_key(self, permissions: list[str], *, account: str | None = None) -> str:
        """A new ``rk_test_`` key allowed only ``permissions`` (e.g. ``rak_product_write``)."""
        return self.add_key("restricted", permissions=permissions, account=account)

    def add_key(
        self,
        kind: str = "secret",
        *,
        permissions: list[str] | None = None,
        account: str | None = None,
    ) -> str:
        """A new ``secret``/``publishable``/``restricted`` key, optionally of another account.

        Keys of another account see their own ``GET /v1/account`` and cannot read payment
        methods created with that account's publishable key (and vice versa); other objects
        are not partitioned by account.
        """
        body: dict[str, Any] = {"type": kind, "permissions": permissions or []}
        if account:
            body["account"] = account
        return str(self._admin("POST", "/_emulator/keys", body)["key"])

    def rate_limit(self, requests: int | bool) -> None:
        """Answer the next ``requests`` API calls with 429 (True: all, 0/False: none)."""
        self._admin("POST", "/_emulator/settings", {"rate_limit": requests})

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change run-time settings (``meter_event_delay_s``, ``rate_limit_per_s``,
        ``invoice_finalization_grace_s``, …) until the next ``reset()``."""
        return dict(self._admin("POST", "/_emulator/settings", settings))

    def fail_requests(self, requests: int) -> None:
        """Make the next ``requests`` API calls fail inside the endpoint (500 api_error)."""
        self._admin("POST", "/_emulator/settings", {"fail_requests": requests})

    def advance_time(self, seconds: float) -> float:
        """Move the emulator's wall clock forward (not test clocks); returns the new time."""
        return float(self._admin("POST", "/_emulator/time", {"advance": seconds})["now"])

    def freeze_time(self, frozen: bool = True) -> None:
        """Stop (or restart) the emulator's wall clock: only ``advance_time`` moves it."""
        self._admin("POST", "/_emulator/time", {"freeze": frozen})

    def save_portal_settings(self) -> str:
        """What saving the customer-portal settings in the Dashboard does; returns the
        default configuration's id (portal sessions fail until this is done)."""
        return str(self._admin("POST", "/_emulator/portal_configuration")["id"])

    def deliver_webhooks(self) -> dict[str, int]:
        """Attempt every pending webhook delivery now, once."""
        return dict(self._admin("POST", "/_emulator/webhooks/deliver"))

    def webhook_log(self) -> dict[str, Any]:
        return dict(self._admin("GET", "/_emulator/webhooks"))


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # running in a thread
        pass


@contextlib.contextmanager
def running_emulator(**settings: Any) -> Iterator[Emulator]:
    """Start the emulator on a free loopback port; stop it on exit."""
    app = create_app(settings=EmulatorSettings(**settings))
    rt = runtime_of(app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = _Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"stripe-emulator-{port}"
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the Stripe emulator did not start")
        time.sleep(0.01)
    base = f"http://127.0.0.1:{port}"
    try:
        yield Emulator(
            base_url=base,
            api_key=rt.state.key_of_type("secret"),
            publishable_key=rt.state.key_of_type("publishable"),
            runtime=rt,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
