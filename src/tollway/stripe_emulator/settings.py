"""Emulator settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

API_VERSION = "2026-10-28.endive"


@dataclass
class EmulatorSettings:
    """How the emulator behaves. Every field has a development-friendly default."""

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
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state_file is not None and not isinstance(self.state_file, Path):
            self.state_file = Path(self.state_file)
        if self.after_failed_retries not in ("unpaid", "canceled"):
            raise ValueError("after_failed_retries must be 'unpaid' or 'canceled'")
