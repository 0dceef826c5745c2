"""The usage sync worker: ledger -> Stripe meter events, exactly once.

Each run has two phases.

1. **Plan.** For every billed subscription (Stripe subscription known), the ledger
   events recorded since the last run (plus an overlap) name the windows to look at.
   For each window the meter is folded over *all* its ledger events and compared with
   what was already planned for it; a positive difference becomes a new
   ``usage_push_windows`` row (``pending``, with its value and deterministic
   identifier), committed BEFORE anything is sent. Distinct/max/last meters instead
   plan the period-to-date value (pushed to a ``last`` meter) whenever it changes.
2. **Send.** Pending rows are pushed; what Stripe accepted is marked ``sent``.
   A crash between Stripe accepting a push and the row being marked sent leaves the row
   pending; the next run pushes the same identifier with the same value and Stripe drops
   the duplicate — within Stripe's 24-hour identifier window. Older pending pushes are
   first checked against Stripe's meter event summaries (``usage_recheck``).
   429/5xx back off exponentially (honouring ``Retry-After``); pushes
   are also throttled to ``max_rate`` per second.

Only closed windows (end <= now) are planned, except on ``flush`` which also plans the
open ones — run before a billing period closes so Stripe invoices all of it. The
worker flushes by itself every subscription whose period ends within two intervals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from tollway.billing.credentials import EngineProvider
from tollway.billing.engine import BillingEngine, MeterPush, PushResult
from tollway.billing.errors import RetryableProviderError
from tollway.billing.meters import meter_definition
from tollway.domain.clock import Clock, SystemClock
from tollway.domain.errors import Conflict, TollwayError
from tollway.metering.events import UsageEvent
from tollway.metering.meters import MeterDefinition
from tollway.metering.usage_windows import by_window, identifier, measure, window_of
from tollway.store import billing_repo, db, ledger, usage_push_repo
from tollway.store.billing_repo import Billed
from tollway.store.usage_push_repo import PlannedPush, SentInRange
from tollway.workers import usage_recheck

log = logging.getLogger(__name__)

WATERMARK_KEY = "usage_sync.recorded_at_ms"
OVERLAP = timedelta(minutes=5)  # re-read events recorded shortly before the watermark
MAX_LATE = timedelta(days=35)  # Stripe refuses meter events older than this
#: Meter events per second: below Stripe's sandbox limit (25 requests/s, meter events
#: included) and its live one, leaving room for the control plane's own calls.
DEFAULT_MAX_RATE = 20.0


@dataclass(slots=True)
class SyncResult:
    planned: int = 0
    pushed: int = 0
    value_pushed: int = 0
    errors: list[str] = field(default_factory=list)


class UsageSync:
    def __init__(
        self,
        db: Engine,
        engines: EngineProvider,
        *,
        window_s: int = 60,
        clock: Clock | None = None,
        max_rate: float = DEFAULT_MAX_RATE,
        max_retries: int = 6,
        batch: int = 200,
        after_push: Callable[[Sequence[str]], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        identifier_window_s: int = usage_recheck.IDENTIFIER_WINDOW_S,
        lag_s: float = 300.0,
    ) -> None:
        self.db = db
        self.engines = engines
        self.window_ms = window_s * 1000
        self.clock = clock or SystemClock()
        self.max_rate = max_rate
        self.max_retries = max_retries
        self.batch = batch
        self.after_push = after_push  # fault-injection point for tests
        self.sleep = sleep
        self.identifier_window_s = identifier_window_s
        self.lag_s = lag_s
        self._local = threading.local()

    def now(self) -> datetime:
        return self.clock.now().astimezone(UTC)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with db.reading(self.db, getattr(self._local, "conn", None)) as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with db.writing(self.db, getattr(self._local, "conn", None)) as conn:
            yield conn

    def flush_within(self, conn: Connection, subscription_id: str) -> SyncResult:
        """Flush one subscription inside the caller's transaction (e.g. right before it
        is cancelled). If that transaction rolls back, the same windows are planned
        again with the same identifiers and values, so Stripe still counts them once."""
        self._local.conn = conn
        try:
            return self.run_once(flush=True, subscription_id=subscription_id)
        finally:
            self._local.conn = None

    def wait_counted(
        self, subscription_id: str, timeout_s: float, conn: Connection | None = None
    ) -> bool:
        """Wait until Stripe's meter summary for the subscription's customer counts every
        push accepted for its current period (Stripe aggregates asynchronously, and an
        invoice cut now would miss the rest). False if it did not within ``timeout_s``."""
        self._local.conn = conn
        try:
            return self._wait_counted(subscription_id, timeout_s)
        finally:
            self._local.conn = None

    def _wait_counted(self, subscription_id: str, timeout_s: float) -> bool:
        for b in self.billed(subscription_id):
            if b.meter_id is None or b.aggregation == "last" or b.period_start_ms is None:
                continue
            start = b.period_start_ms // 1000 // 60 * 60
            end = -(-(b.period_end_ms or self.now().timestamp() * 1000) // 60_000) * 60
            expected = self._sent_in_range(b.event_name, b.customer_id, start, int(end)).total
            engine = self.engines.for_org(b.organization_id)
            deadline = time.monotonic() + timeout_s
            while engine.meter_total(b.meter_id, b.customer_id, start, int(end)) < expected:
                if time.monotonic() > deadline:
                    log.warning("Stripe has not counted all usage of %s yet", subscription_id)
                    return False
                self.sleep(0.1)
        return True

    # -- what is billed -------------------------------------------------------------

    def billed(self, subscription_id: str | None = None) -> list[Billed]:
        with db.reading(self.db) as conn:
            return billing_repo.billed_subscriptions(conn, subscription_id)

    # -- phase 1: plan --------------------------------------------------------------

    def _watermark(self) -> int:
        with self._read() as conn:
            value = usage_push_repo.get_state(conn, WATERMARK_KEY)
        return int(value) if value else 0

    def _set_watermark(self, value_ms: int) -> None:
        with db.transaction(self.db) as conn:
            usage_push_repo.set_state(conn, WATERMARK_KEY, str(value_ms))

    def _touched_range(self, sub: str, since: datetime | None) -> tuple[int, int] | None:
        with self._read() as conn:
            return usage_push_repo.touched_range(conn, sub, since)

    def _events(self, sub: str, start_ms: int, end_ms: int) -> list[UsageEvent]:
        with self._read() as conn:
            return ledger.events_between(conn, sub, start_ms, end_ms)

    def _planned(self, sub: str, meter_key: str, lo: int, hi: int) -> dict[int, tuple[int, int]]:
        with self._read() as conn:
            return usage_push_repo.planned(conn, sub, meter_key, lo, hi)

    def plan(
        self, b: Billed, meter: MeterDefinition, *, since: datetime | None, flush: bool
    ) -> int:
        now_ms = int(self.now().timestamp() * 1000)
        if b.aggregation == "last":
            return self._plan_period_to_date(b, meter, now_ms)
        touched = self._touched_range(b.subscription_id, since)
        if touched is None:
            return 0
        oldest = now_ms - int(MAX_LATE.total_seconds() * 1000)
        lo = max(
            window_of(touched[0], self.window_ms, b.boundaries).start_ms,
            window_of(oldest, self.window_ms, b.boundaries).end_ms,
        )
        hi = window_of(touched[1], self.window_ms, b.boundaries).end_ms
        if lo >= hi:
            return 0
        planned = self._planned(b.subscription_id, b.meter_key, lo, hi)
        # Past period boundaries (no longer the current period's) survive as the starts
        # of windows planned earlier that are not on the window grid: keep cutting there.
        cuts = tuple(sorted({*b.boundaries, *(s for s in planned if s % self.window_ms)}))
        events = self._events(b.subscription_id, lo, hi)
        table = by_window(meter, events, self.window_ms, cuts)
        rows: list[dict[str, Any]] = []
        created = self.now()
        for start, measured in sorted(table.items()):
            win = window_of(start, self.window_ms, cuts)
            if win.end_ms > now_ms and not flush:
                continue  # still open: pushed once closed (or on flush)
            value = int(measured)
            already, seq = planned.get(start, (0, -1))
            if value <= already:
                continue
            rows.append(self._row(b, win.start_ms, win.end_ms, seq + 1, value - already, created))
        if rows:
            return self._insert_planned(rows)
        return 0

    def _plan_period_to_date(self, b: Billed, meter: MeterDefinition, now_ms: int) -> int:
        if b.period_start_ms is None:
            return 0
        end = b.period_end_ms or now_ms + 1
        events = self._events(b.subscription_id, b.period_start_ms, end)
        value = int(measure(meter, events))
        with self._read() as conn:
            last = usage_push_repo.last_push(
                conn, b.subscription_id, b.meter_key, b.period_start_ms
            )
        if (last is not None and last.value == value) or (last is None and value == 0):
            return 0
        seq = last.seq + 1 if last is not None else 0
        row = self._row(b, b.period_start_ms, end, seq, value, self.now())
        floor_s = last.timestamp_s + 1 if last is not None else b.period_start_ms // 1000
        ts_s = max(floor_s, min(now_ms // 1000, end // 1000 - 1))  # strictly later: "last"
        row["timestamp_s"] = ts_s
        return self._insert_planned([row])

    def _insert_planned(self, rows: list[dict[str, Any]]) -> int:
        """Insert planned pushes. Another worker planning the same window at the same time
        collides on the (subscription, meter, window, seq) key: this run then plans
        nothing for it, and the next run sees what the other one planned."""
        try:
            with self._write() as conn:
                usage_push_repo.insert_planned(conn, rows)
        except (IntegrityError, Conflict):  # Conflict: the collision, from a transaction of ours
            log.info("usage windows planned concurrently by another worker; skipped")
            return 0
        return len(rows)

    def _row(
        self, b: Billed, start: int, end: int, seq: int, value: int, now: datetime
    ) -> dict[str, Any]:
        return {
            "identifier": identifier(b.subscription_id, b.meter_key, start, seq),
            "subscription_id": b.subscription_id,
            "meter_key": b.meter_key,
            "window_start_ms": start,
            "window_end_ms": end,
            "seq": seq,
            "value": value,
            "timestamp_s": -(-start // 1000),
            "event_name": b.event_name,
            "customer_id": b.customer_id,
            "state": "pending",
            "attempts": 0,
            "created_at": now,
        }

    # -- phase 2: send --------------------------------------------------------------

    def _pending(self, subscription_id: str | None) -> list[PlannedPush]:
        with self._read() as conn:
            return usage_push_repo.pending(conn, subscription_id)

    def _mark(self, identifiers: Sequence[str], state: str, error: str | None = None) -> None:
        if not identifiers:
            return
        with self._write() as conn:
            usage_push_repo.mark(conn, identifiers, state, self.now(), error)

    def _sent_in_range(self, event_name: str, customer: str, start: int, end: int) -> SentInRange:
        with self._read() as conn:
            return usage_push_repo.sent_in_range(conn, event_name, customer, start, end)

    def send(self, result: SyncResult, subscription_id: str | None = None) -> None:
        rows = self._pending(subscription_id)
        billed = {(b.subscription_id, b.meter_key): b for b in self.billed()}
        by_org: dict[str, list[PlannedPush]] = defaultdict(list)
        for r in rows:
            b = billed.get((r.subscription_id, r.meter_key))
            if b is not None:
                by_org[b.organization_id].append(r)
        for org, org_rows in by_org.items():
            engine = self.engines.for_org(org)
            # pushes older than Stripe's identifier window: ask Stripe what it has first
            org_rows = usage_recheck.recheck(
                self._sent_in_range,
                engine,
                org_rows,
                billed,
                now=self.now(),
                identifier_window_s=self.identifier_window_s,
                lag_s=self.lag_s,
                mark_sent=lambda ids: self._mark(ids, "sent"),
                errors=result.errors,
            )
            for i in range(0, len(org_rows), self.batch):
                chunk = org_rows[i : i + self.batch]
                pushes = [
                    MeterPush(r.identifier, r.event_name, r.customer_id, r.value, r.timestamp_s)
                    for r in chunk
                ]
                values = {r.identifier: r.value for r in chunk}
                if not self._send_chunk(engine, pushes, values, result):
                    return

    def _send_chunk(
        self,
        engine: BillingEngine,
        pushes: list[MeterPush],
        values: dict[str, int],
        result: SyncResult,
    ) -> bool:
        remaining = pushes
        delay = 0.5
        for attempt in range(self.max_retries + 1):
            try:
                outcome = self._paced_push(engine, remaining)
                accepted, failed = list(outcome.accepted), list(outcome.failed)
                error: RetryableProviderError | None = None
            except RetryableProviderError as exc:
                partial = getattr(exc, "partial", None)
                accepted = list(partial.accepted) if partial else []
                failed = list(partial.failed) if partial else []
                error = exc
            if self.after_push is not None and accepted:
                self.after_push(accepted)
            self._mark(accepted, "sent")
            for ident, msg in failed:
                self._mark([ident], "failed", msg)
                result.errors.append(f"{ident}: {msg}")
            result.pushed += len(accepted)
            result.value_pushed += sum(values[i] for i in accepted)
            if error is None:
                return True
            done = set(accepted) | {i for i, _ in failed}
            remaining = [p for p in remaining if p.identifier not in done]
            if attempt == self.max_retries:
                result.errors.append(f"gave up after {attempt + 1} attempts: {error.detail}")
                return False
            wait = error.retry_after_s if error.retry_after_s is not None else delay
            log.warning("usage push: %s; retrying in %.1fs", error.detail, wait)
            self.sleep(min(wait, 60.0))
            delay = min(delay * 2, 30.0)
        return False

    def _paced_push(self, engine: BillingEngine, pushes: list[MeterPush]) -> PushResult:
        """Push one event at a time, at most ``max_rate`` a second *in any second*
        (Stripe's limiter is a sliding window: a burst per round would exceed it)."""
        accepted: list[str] = []
        failed: list[tuple[str, str]] = []
        gap = 1.0 / self.max_rate if self.max_rate > 0 else 0.0
        for push in pushes:
            started = time.monotonic()
            try:
                outcome = engine.push_usage([push])
            except RetryableProviderError as exc:
                exc.partial = PushResult(tuple(accepted), tuple(failed))  # type: ignore[attr-defined]
                raise
            accepted.extend(outcome.accepted)
            failed.extend(outcome.failed)
            spent = time.monotonic() - started
            if spent < gap:
                self.sleep(gap - spent)
        return PushResult(tuple(accepted), tuple(failed))

    # -- runs -----------------------------------------------------------------------

    def run_once(self, *, flush: bool = False, subscription_id: str | None = None) -> SyncResult:
        """Plan and send. ``flush`` also pushes the windows still open. Only events
        recorded since the last complete run (minus an overlap) are read."""
        result = SyncResult()
        started = self.now()
        since = None
        watermark = self._watermark()
        if watermark:
            since = datetime.fromtimestamp(watermark / 1000, UTC) - OVERLAP
        closing = started + timedelta(milliseconds=2 * self.window_ms)
        meters: dict[tuple[str, str], MeterDefinition] = {}  # read once per run
        for b in self.billed(subscription_id):
            try:
                meter = meters.get((b.organization_id, b.meter_key))
                if meter is None:
                    with self._read() as conn:
                        meter = meter_definition(conn, b.organization_id, b.meter_key)
                    meters[b.organization_id, b.meter_key] = meter
                near_end = (
                    b.period_end_ms is not None and b.period_end_ms <= closing.timestamp() * 1000
                )
                result.planned += self.plan(b, meter, since=since, flush=flush or near_end)
            except TollwayError as exc:
                result.errors.append(f"{b.subscription_id}: {exc.detail}")
        self.send(result, subscription_id)
        if subscription_id is None and not result.errors:
            # Windows still open were skipped; their events happened (and were recorded)
            # after ``started - window``, so the next run starts reading from there.
            self._set_watermark(int(started.timestamp() * 1000) - 2 * self.window_ms)
        return result

    def flush(self, subscription_id: str | None = None) -> SyncResult:
        return self.run_once(flush=True, subscription_id=subscription_id)
