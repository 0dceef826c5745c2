"""Emulator settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: The API version of stripe-python 16.1, the only one the emulator speaks.
API_VERSION = "2026-10-28.endive"
DAY = 86400


@dataclass
class EmulatorSettings:
    """How the emulator behaves. Defaults are Stripe's (sandbox) behaviour; tests that
    need something kinder ask for it by name (e.g. ``meter_event_delay_s=0``)."""

    #: Secret key of the default account; generated when None.
    secret_key: str | None = None
    publishable_key: str | None = None
    account_id: str | None = None
    #: Deliver webhooks to (and bind to) non-loopback addresses.
    allow_remote: bool = False
    #: Persist state to this JSON file after every change and load it on start.
    state_file: Path | None = None
    #: Seconds between webhook delivery attempts after a failure (Stripe backs off over 3 days).
    webhook_retry_schedule: tuple[float, ...] = (
        5.0,
        30.0,
        120.0,
        600.0,
        1800.0,
        3600.0,
        7200.0,
        21600.0,
        43200.0,
        86400.0,
    )
    webhook_timeout: float = 10.0
    #: Days after the first failed invoice payment at which it is retried (Smart Retries).
    invoice_retry_days: tuple[int, ...] = (3, 5, 7)
    #: Subscription status once every retry failed: "unpaid" or "canceled".
    after_failed_retries: str = "unpaid"
    #: Seconds between checks for real-time due work (session expiry, renewals).
    tick_interval: float = 1.0
    #: Public base URL of hosted pages; derived from each request when None.
    public_url: str | None = None
    api_version: str = API_VERSION
    #: Meter events reach summaries and invoices this many (wall-clock) seconds after
    #: Stripe accepted them: Stripe processes them asynchronously.
    meter_event_delay_s: float = 5.0
    #: A meter event identifier is refused again within this many seconds (Stripe: a
    #: rolling 24 hours at least), measured on the customer's test clock if it has one.
    meter_event_identifier_window_s: int = DAY
    #: A renewal invoice stays draft this long (clock seconds; Stripe: one hour) and
    #: counts usage that arrives meanwhile for the period it bills.
    invoice_finalization_grace_s: int = 3600
    #: Idempotency keys are forgotten after this many seconds (Stripe: 24 hours).
    idempotency_ttl_s: int = DAY
    #: Requests per second per account, reads and writes each (Stripe's sandbox: 25;
    #: meter events count too); None turns the limiter off.
    rate_limit_per_s: int | None = 25
    #: Act as an account whose customer-portal settings were saved in the Dashboard
    #: (a default portal configuration exists); otherwise portal sessions fail until
    #: one is saved through /_emulator/portal_configuration or the index page.
    portal_configured: bool = False
    #: Stripe Tax: the percentage charged per customer address country (ISO 3166-1
    #: alpha-2, e.g. ``{"DE": 19}``) as if the account were registered there. Empty (the
    #: default, like a sandbox without registrations): automatic tax computes zero.
    tax_rates: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state_file is not None and not isinstance(self.state_file, Path):
            self.state_file = Path(self.state_file)
        if self.after_failed_retries not in ("unpaid", "canceled"):
            raise ValueError("after_failed_retries must be 'unpaid' or 'canceled'")
        for name in ("meter_event_delay_s", "invoice_finalization_grace_s", "idempotency_ttl_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more")
        if any(not 0 <= float(r) <= 100 for r in self.tax_rates.values()):
            raise ValueError("tax_rates are percentages between 0 and 100")
        self.tax_rates = {str(c).upper(): float(r) for c, r in self.tax_rates.items()}
        if self.rate_limit_per_s is not None and self.rate_limit_per_s < 1:
            raise ValueError("rate_limit_per_s must be at least 1 (or None: no limit)")
