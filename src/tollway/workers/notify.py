"""The notification worker: evaluates usage alerts, then sends the deliveries that are
due — signed webhooks through the SSRF guard, email through the configured mailer —
retrying failures with exponential back-off.

**Webhook signature** (the scheme receivers verify, like Stripe's): the header
``Tollway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` where the HMAC is keyed
with the endpoint's secret (``whsec_…``, shown once at creation) over
``"<t>.<raw body>"``. Receivers recompute it, compare in constant time and refuse a
``t`` older than a few minutes. The body is
``{"id": "evt_…", "type": "…", "created": <unix>, "data": {…}}``; the event id is the
same on every retry, so receivers can drop duplicates.

A delivery is attempted at most ``len(BACKOFF_S) + 1`` times (a 2xx answer is success);
after that it is ``failed`` and can be replayed through the API. Without SMTP settings
email deliveries are ``skipped``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine

from tollway.domain.clock import Clock, SystemClock
from tollway.domain.errors import TollwayError
from tollway.domain.notify_events import describe
from tollway.mail import Mailer, MailError, render
from tollway.security.secretbox import SecretBox
from tollway.security.ssrf import UrlGuard
from tollway.store import db, notify_repo
from tollway.workers.alerts import AlertWatcher

log = logging.getLogger(__name__)

BACKOFF_S = (10, 60, 300, 1800, 7200, 21600)  # then failed (7 attempts in ~8.6 hours)
TIMEOUT_S = 10.0
SIGNATURE_HEADER = "Tollway-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Tollway-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def payload(row: dict[str, Any]) -> bytes:
    created: datetime = row["event_created"]
    doc = {
        "id": row["notification_id"],
        "type": row["type"],
        "created": int(created.timestamp()),
        "data": row["data"],
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


class NotificationSender:
    def __init__(
        self,
        engine: Engine,
        secrets: SecretBox,
        *,
        mailer: Mailer | None,
        brand_name: str,
        ssrf_allow: Sequence[str] = (),
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine
        self.secrets = secrets
        self.mailer = mailer
        self.brand_name = brand_name
        self.guard = UrlGuard(ssrf_allow)
        self.clock = clock or SystemClock()
        self.alerts = AlertWatcher(engine, self.clock)

    def run_once(self) -> int:
        """Fire due alerts, then attempt every due delivery; returns deliveries attempted."""
        self.alerts.run_once()
        with db.transaction(self.engine, read_only=True) as conn:
            due = notify_repo.due(conn, self.clock.now())
        for row in due:
            outcome = self._attempt(row)
            with db.transaction(self.engine) as conn:
                notify_repo.record_attempt(conn, str(row["id"]), **outcome)
        return len(due)

    def _attempt(self, row: dict[str, Any]) -> dict[str, Any]:
        attempts = int(row["attempts"]) + 1
        now = self.clock.now()
        try:
            if row["channel"] == "email":
                if self.mailer is None:
                    return self._outcome("skipped", attempts, None, "email is off (no SMTP)")
                self._email(row)
                return self._outcome("delivered", attempts, None, None, now)
            status = self._post(row)
        except (MailError, TollwayError, httpx.HTTPError, OSError) as exc:
            return self._retry(attempts, None, f"{type(exc).__name__}: {exc}"[:500], now)
        if 200 <= status < 300:
            return self._outcome("delivered", attempts, status, None, now)
        return self._retry(attempts, status, f"answered {status}", now)

    def _outcome(
        self,
        status: str,
        attempts: int,
        last_status: int | None,
        error: str | None,
        delivered_at: datetime | None = None,
    ) -> dict[str, Any]:
        return {
            "status": status,
            "attempts": attempts,
            "next_attempt_at": None,
            "last_status": last_status,
            "last_error": error,
            "delivered_at": delivered_at,
        }

    def _retry(
        self, attempts: int, last_status: int | None, error: str, now: datetime
    ) -> dict[str, Any]:
        if attempts > len(BACKOFF_S):
            return self._outcome("failed", attempts, last_status, error)
        out = self._outcome("pending", attempts, last_status, error)
        out["next_attempt_at"] = now + timedelta(seconds=BACKOFF_S[attempts - 1])
        return out

    def _post(self, row: dict[str, Any]) -> int:
        target = self.guard.pinned_target(str(row["address"]))  # refuses internal hosts
        body = payload(row)
        secret = self.secrets.decrypt(str(row["secret"]))
        headers = {
            "Host": target.host_header,
            "Content-Type": "application/json",
            "User-Agent": "tollway-notify/1",
            SIGNATURE_HEADER: sign(secret, int(time.time()), body),
        }
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
        with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as client:
            request = client.build_request(
                "POST", target.pinned_url, content=body, headers=headers, extensions=extensions
            )
            return client.send(request).status_code

    def _email(self, row: dict[str, Any]) -> None:
        assert self.mailer is not None
        title, summary, facts = describe(str(row["type"]), dict(row["data"]))
        message = render(
            "notification",
            to=str(row["address"]),
            brand_name=self.brand_name,
            context={
                "title": title,
                "summary": summary,
                "facts": facts,
                "event_id": row["notification_id"],
                "event_type": row["type"],
                "created": row["event_created"].isoformat(),
            },
        )
        self.mailer.send(message)
