"""Signed webhook delivery with retries, from a background task."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections import deque
from typing import Any

import httpx

from .netloc import is_loopback_url
from .render import clean
from .settings import EmulatorSettings
from .state import EmulatorState, Obj

log = logging.getLogger(__name__)


def sign(payload: str, secret: str, timestamp: int) -> str:
    """Stripe's scheme: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class Deliverer:
    """Delivers queued events to webhook endpoints; failed attempts back off and retry."""

    def __init__(self, state: EmulatorState, settings: EmulatorSettings) -> None:
        self.state = state
        self.settings = settings
        self.wakeup = asyncio.Event()
        self.log: deque[Obj] = deque(maxlen=500)
        self._in_flight: set[int] = set()
        self._busy: set[str] = set()
        self._client: httpx.AsyncClient | None = None

    def wake(self) -> None:
        self.wakeup.set()

    async def _post(self, delivery: Obj) -> bool:
        with self.state.lock:
            event = self.state.get(delivery["event"])
            endpoint = self.state.get(delivery["endpoint"])
            if event is None or endpoint is None:
                return True
            payload = json.dumps(clean(self.state, event), indent=2)
            secret, url = endpoint["_secret"], endpoint["url"]
        if not self.settings.allow_remote and not is_loopback_url(url):
            self.log.append(
                {
                    "event": delivery["event"],
                    "endpoint": delivery["endpoint"],
                    "url": url,
                    "status": None,
                    "at": time.time(),
                    "error": "not a loopback URL and --allow-remote is off",
                }
            )
            return False
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, secret, int(time.time())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks) [emulator]",
        }
        status: int | None = None
        error: str | None = None
        try:
            if self._client is not None:
                resp = await self._client.post(url, content=payload.encode(), headers=headers)
            else:  # the background task is not running (an app served without lifespan)
                async with httpx.AsyncClient(
                    timeout=self.settings.webhook_timeout, trust_env=False
                ) as client:
                    resp = await client.post(url, content=payload.encode(), headers=headers)
            status = resp.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        self.log.append(
            {
                "event": delivery["event"],
                "type": event["type"],
                "endpoint": delivery["endpoint"],
                "url": url,
                "status": status,
                "error": error,
                "attempt": delivery["attempts"] + 1,
                "at": time.time(),
            }
        )
        return ok

    async def _attempt(self, delivery: Obj) -> str:
        ok = await self._post(delivery)
        with self.state.lock:
            delivery["attempts"] += 1
            if ok:
                self._drop(delivery)
                event = self.state.get(delivery["event"])
                if event is not None:
                    event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
                return "delivered"
            schedule = self.settings.webhook_retry_schedule
            if delivery["attempts"] > len(schedule):
                self._drop(delivery)
                return "abandoned"
            delivery["next_at"] = time.time() + schedule[delivery["attempts"] - 1]
            self.wake()  # re-arm the timer for the retry
            return "failed"

    def _drop(self, delivery: Obj) -> None:
        with contextlib.suppress(ValueError):
            self.state.deliveries.remove(delivery)

    async def deliver_due(self, *, force: bool = False) -> dict[str, int]:
        """Attempt every due delivery (every pending one when ``force``) once.

        Deliveries to one endpoint go one at a time in event order; endpoints are served
        concurrently, so a slow endpoint only delays itself.
        """
        now = time.time()
        by_endpoint: dict[str, list[Obj]] = {}
        with self.state.lock:
            due = [
                d
                for d in self.state.deliveries
                if (force or d["next_at"] <= now) and d["endpoint"] not in self._busy
            ]
            due.sort(key=lambda d: d["created"])
            for d in due:
                by_endpoint.setdefault(d["endpoint"], []).append(d)
                self._in_flight.add(id(d))
            self._busy.update(by_endpoint)
        counts = {"delivered": 0, "failed": 0, "abandoned": 0}

        async def run(endpoint: str, batch: list[Obj]) -> None:
            try:
                for d in batch:
                    counts[await self._attempt(d)] += 1
                    self._in_flight.discard(id(d))
            finally:
                for d in batch:
                    self._in_flight.discard(id(d))
                self._busy.discard(endpoint)
                self.wake()  # deliveries queued meanwhile for this endpoint

        await asyncio.gather(*(run(e, b) for e, b in by_endpoint.items()))
        if force:  # let attempts started by the background task finish too
            deadline = time.monotonic() + self.settings.webhook_timeout + 1
            while self._busy and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        return counts

    def _next_due_in(self) -> float:
        with self.state.lock:
            times = [d["next_at"] for d in self.state.deliveries if d["endpoint"] not in self._busy]
        if not times:
            return 5.0
        return max(0.0, float(min(times)) - time.time())

    async def _batch(self) -> None:
        try:
            await self.deliver_due()
        except Exception:  # keep delivering whatever one attempt did
            log.exception("webhook delivery failed")

    async def run(self) -> None:
        """Start due deliveries as they come; a slow endpoint never holds up the others."""
        tasks: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(
            timeout=self.settings.webhook_timeout, trust_env=False
        ) as client:
            self._client = client
            try:
                while True:
                    self.wakeup.clear()
                    task = asyncio.create_task(self._batch())
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    await asyncio.sleep(0)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self.wakeup.wait(), timeout=min(self._next_due_in(), 1.0)
                        )
            finally:
                for task in tasks:
                    task.cancel()

    def pending(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(d) for d in self.state.deliveries]
