"""Client side of the proxy: an asyncio protocol parsing HTTP/1.1 with httptools.

One exchange is active per connection (pipelined requests wait in order). Request
bodies stream to the upstream as they arrive and response bodies stream back; each
direction pauses its reader while the other side's write buffer is full. Anything
malformed or ambiguous (Content-Length with Transfer-Encoding, bad chunk sizes,
several Host or Content-Length headers, control characters in headers) is answered
with 400 and the connection is closed; the protocol edges refused on purpose are in
``request_head``, the deadlines and the connection cap in ``clients``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import cast

import httptools

from tollway.gateway import responses as R
from tollway.gateway.app import GatewayApp
from tollway.gateway.enforce import Admission, Refusal, resolve
from tollway.gateway.exchange import Exchange, budget_header_pairs
from tollway.gateway.ratelimit import ALLOW_UNLIMITED, Decision, call_cap, unlimited
from tollway.gateway.request_head import HTTP_VERSION_REFUSED, HeadRefused, refusal, scan_headers
from tollway.gateway.response_side import ResponseSide

PAUSE_UPSTREAM_FULL = 1
PAUSE_BUFFER = 2
PAUSE_PIPELINE = 4
BUFFER_LIMIT = 256 * 1024
RECORDING_UNAVAILABLE = (
    503,
    "Usage cannot be recorded right now, so the call was not forwarded; try again shortly.",
    "recording_unavailable",
    [(b"Retry-After", b"5")],
)


class ClientProtocol(ResponseSide, asyncio.Protocol):
    def __init__(self, app: GatewayApp) -> None:
        self.app = app
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.peer = b"unknown"
        self.queue: deque[Exchange] = deque()
        self.active: Exchange | None = None
        self.parsing: Exchange | None = None
        self._url: list[bytes] = []
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0  # request line + headers as parsed
        self.awaiting_head = True  # the parser expects (the rest of) a request head
        self.head_bytes = 0  # raw bytes received while a head was awaited
        self._parse_error: bytes | None = None  # the answer to a refused head
        self.paused = 0
        self.write_paused = False
        self.closing = False
        self.close_after = False
        self.parse_failed = False
        self._out = []
        self._corked = False
        self._held = None
        self._close_held = False
        self.deferred: list[Exchange] = []
        self.last_rx = self.loop.time()

    # --- connection -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = str(peer[0]).encode()
        app = self.app
        app.connections.add(self)
        app.metrics.connections.inc()
        if app.clients.over_cap(len(app.connections)):  # before it is a candidate itself
            self.fatal(R.TOO_MANY_CONNECTIONS_CLOSE)
        else:
            app.clients.head_started(self, self.last_rx)

    def shed(self, waiting_head: bool) -> None:
        """Closed by the connection tracker: past a deadline, or to make room."""
        if self.active is not None or self.queue:
            self.close_after = True  # a slow pipelined head: finish what is under way first
            self.pause(PAUSE_PIPELINE)
        elif waiting_head:
            self.fatal(R.HEADER_TIMEOUT_CLOSE)
        else:
            self.closing = True
            self._close_transport()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.app.connections.discard(self)
        self.app.clients.forget(self)
        self.app.metrics.connections.dec()
        ex = self.active
        if ex is not None and not ex.client_done:
            if not ex.response_started:
                ex.status = 499  # client closed before the response
            if ex.conn is not None:
                self.app.record(ex)
                conn, ex.conn = ex.conn, None
                conn.sink = None
                conn.abort()
            self._end(ex)
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.closing or self.parse_failed:
            return
        self.last_rx = self.loop.time()
        if self.awaiting_head:
            self.head_bytes += len(data)
        error: bytes | None = None
        try:
            self.parser.feed_data(data)
        except Exception:
            error = self._parse_error or R.BAD_REQUEST_CLOSE
        if error is None and self.awaiting_head and self.parsing is not None:
            if self.head_bytes > self.app.settings.max_header_bytes:
                error = R.HEADERS_TOO_LARGE_CLOSE  # e.g. one endless header line
            elif data.endswith(b"\n") and self.parser.get_http_version() == "0.0":
                error = HTTP_VERSION_REFUSED  # an HTTP/0.9 request line: no version
        # Exchanges start only after the whole buffer parsed, so a request whose framing
        # turns out to be broken in the same packet never reaches the upstream.
        if not self.deferred and error is None:
            return
        deferred, self.deferred = self.deferred, []
        if error is not None:
            self.parse_failed = True
            broken = self.parsing
            deferred = [ex for ex in deferred if ex is not broken]
            if broken is not None and broken is self.active:
                self.fatal(error)
                return
            if self.active is None and not self.queue and not deferred:
                self.fatal(error)
                return
            self.close_after = True  # answer the complete requests before it, then close
        for ex in deferred:
            if not self.closing:
                self._enqueue(ex)

    def eof_received(self) -> bool | None:
        # Half-closed by the client: finish the active exchange, then close.
        if self.active is None and not self.queue:
            return None
        self.close_after = True
        return True

    def pause_writing(self) -> None:
        self.write_paused = True
        ex = self.active
        if ex is not None and ex.conn is not None:
            ex.conn.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        ex = self.active
        if ex is not None and ex.conn is not None:
            ex.conn.resume_reading()

    def pause(self, reason: int) -> None:
        if not self.paused and self.transport is not None:
            self.transport.pause_reading()
        self.paused |= reason

    def resume(self, reason: int) -> None:
        if self.paused & reason:
            self.paused &= ~reason
            if not self.paused and self.transport is not None and not self.closing:
                self.transport.resume_reading()

    def fatal(self, response: bytes) -> None:
        """Answer with a gateway-made response if none started, then close."""
        if self.closing:
            return
        self.closing = True
        ex = self.active
        if ex is None or not ex.response_started:
            self._send(response)
        if ex is not None and ex.conn is not None:
            conn, ex.conn = ex.conn, None
            conn.sink = None
            conn.abort()
        self._close_transport()

    # --- httptools callbacks --------------------------------------------------------
    def on_message_begin(self) -> None:
        self.app.clients.head_started(self, self.last_rx)
        ex = Exchange()
        ex.start_ns = time.perf_counter_ns()
        ex.ts_ms = time.time_ns() // 1_000_000
        self.parsing = ex
        self._url = []
        self._raw_headers = []
        self._header_bytes = 0

    def _refuse_head(self, response: bytes) -> None:
        self._parse_error = response
        raise HeadRefused(response)

    def on_url(self, url: bytes) -> None:
        self._header_bytes += len(url)
        if self._header_bytes > self.app.settings.max_header_bytes:
            self._refuse_head(R.HEADERS_TOO_LARGE_CLOSE)
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self.app.settings.max_header_bytes:
            self._refuse_head(R.HEADERS_TOO_LARGE_CLOSE)
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        ex = self.parsing
        assert ex is not None
        self.awaiting_head = False
        self.head_bytes = 0
        self.app.clients.head_done(self)
        p = self.parser
        ex.method = p.get_method().decode("ascii")
        version = p.get_http_version()
        refused = refusal(version, ex.method, bool(p.should_upgrade()))
        if refused is not None:
            self._refuse_head(refused)
        ex.http11 = version == "1.1"
        ex.keep_alive = bool(p.should_keep_alive())
        url = httptools.parse_url(b"".join(self._url))
        if url.path is None or not url.path.startswith(b"/"):
            raise ValueError("bad request target")
        ex.path = url.path
        ex.query = url.query or b""
        if not scan_headers(ex, self._raw_headers, self.app.auth.header):
            raise ValueError("ambiguous framing")
        ex.request_id = self.app.next_request_id()
        if ex.content_length is not None and ex.content_length > self.app.settings.max_body_bytes:
            self.fatal(
                R.problem(413, "Request body too large.", request_id=ex.request_id, close=True)
            )
            return
        if ex.has_body:
            self.deferred.append(ex)  # starts before the body ends, so that it streams
        # without a body the exchange starts once the message is complete

    def _enqueue(self, ex: Exchange) -> None:
        if self.active is None and not self.queue:
            self._activate(ex)
        else:
            self.queue.append(ex)
            self.pause(PAUSE_PIPELINE)

    def on_body(self, body: bytes) -> None:
        ex = self.parsing
        if ex is None or self.closing:
            return
        ex.request_bytes += len(body)
        if ex.request_bytes > self.app.settings.max_body_bytes:
            self._body_too_large(ex)
            return
        if ex is self.active and ex.conn is not None and ex.sent_at:
            self._forward(ex, body)
        else:
            ex.body_buffer.append(body)
            ex.body_buffered += len(body)
            if ex.body_buffered > BUFFER_LIMIT:
                self.pause(PAUSE_BUFFER)

    def on_message_complete(self) -> None:
        self.awaiting_head = True
        ex = self.parsing
        if ex is None or self.closing:
            return
        ex.body_done = True
        self.parsing = None
        if not ex.has_body:
            self.deferred.append(ex)
            return
        if ex is self.active and ex.conn is not None and ex.sent_at and ex.chunked:
            ex.conn.write(b"0\r\n\r\n")

    def _body_too_large(self, ex: Exchange) -> None:
        if ex is self.active and ex.admission is not None and not ex.response_started:
            ex.status = 413
            self.app.record(ex)
        self.fatal(R.problem(413, "Request body too large.", request_id=ex.request_id, close=True))

    def _forward(self, ex: Exchange, body: bytes) -> None:
        conn = ex.conn
        assert conn is not None
        ex.upstream_rx = self.loop.time()  # upload progress counts as activity
        if ex.chunked:
            assert conn.transport is not None
            conn.transport.writelines((b"%x\r\n" % len(body), body, b"\r\n"))
        else:
            conn.write(body)

    # --- admission --------------------------------------------------------------
    def _activate(self, ex: Exchange) -> None:
        self.active = ex
        self.app.inflight += 1
        ex.generation = self.app.started()
        result = resolve(
            self.app.snapshot,
            self.app.auth,
            ex.method,
            ex.path,
            ex.query,
            ex.key_value,
            ex.authorization,
            ex.ts_ms // 1000,
        )
        if isinstance(result, Refusal):
            extra = R.portal_link(self.app.settings.control_plane_url, result.reason)
            self._refuse(
                ex, result.status, result.detail, result.reason, list(result.headers), extra=extra
            )
            return
        if not self.app.recording.ok:  # never forward a call whose usage cannot be recorded
            self._refuse(ex, *RECORDING_UNAVAILABLE, api=result)
            return
        ex.admission = result
        limiter = self.app.limiter
        if limiter.is_async:
            if unlimited(
                result.subscription, result.plan
            ):  # nothing to ask Redis: no task, no loop round trip
                self._limited(ex, ALLOW_UNLIMITED)
            else:
                self.loop.create_task(self._limit_async(ex, result))
            return
        self._limited(ex, limiter.check(result.subscription, result.plan, ex.ts_ms / 1000))

    async def _limit_async(self, ex: Exchange, adm: Admission) -> None:
        decision = await self.app.limiter.check_async(adm.subscription, adm.plan, time.time())
        if self.active is ex and not self.closing:
            self._limited(ex, decision)

    def _limited(self, ex: Exchange, d: Decision) -> None:
        ex.decision = d
        if not d.allowed:
            adm, ex.admission = ex.admission, None  # refused calls are not metered
            self.app.metrics.rate_limited.inc(d.reason)
            if d.reason == "unavailable":
                self._refuse(
                    ex,
                    503,
                    "Rate limits cannot be checked right now.",
                    d.reason,
                    [(b"Retry-After", b"1")],
                )
                return
            if d.reason == "budget" and adm is not None:
                self._refuse_budget(ex, d, adm)
                return
            headers = [(b"Retry-After", b"%d" % d.retry_after_s)]
            if d.limit:
                headers += [
                    (b"RateLimit-Limit", b"%d" % d.limit),
                    (b"RateLimit-Remaining", b"0"),
                    (b"RateLimit-Reset", b"%d" % max(d.reset_s, d.retry_after_s)),
                ]
            detail = (
                "The plan's quota for this billing period is used up."
                if d.reason == "quota"
                else "The plan's rate limit is exceeded."
            )
            self._refuse(
                ex,
                429,
                detail,
                "quota_exceeded" if d.reason == "quota" else "rate_limited",
                headers,
                api=adm,
            )
            return
        admitted = ex.admission
        assert admitted is not None
        if call_cap(admitted.subscription, admitted.plan)[0] is not None:
            ex.quota_sub = admitted.subscription.id
            self.app.quota_in_flight.admitted(ex.quota_sub)
        conn = self.app.pool.acquire_idle(admitted.upstream)
        if conn is not None:
            self.send_upstream(ex, conn)
        else:
            self.loop.create_task(self.connect_upstream(ex))

    def _refuse_budget(self, ex: Exchange, d: Decision, adm: Admission) -> None:
        """402: the call would take the period's usage charges over the consumer's
        budget. The body says the cap and the spend and where to raise it."""
        budget = adm.subscription.budget
        assert budget is not None
        spent = budget.spent(max(d.used, budget.calls))
        sub_id = adm.subscription.id
        base = self.app.settings.control_plane_url
        cur = budget.currency
        headers = budget_header_pairs(budget, spent)
        if budget.prepaid:  # no Retry-After: only a purchase brings the calls back
            detail = (
                f"The prepaid credit is used up ({budget.amount} {cur} bought, {spent} {cur} "
                "used). Buy a credit pack to continue."
            )
            reason = "credit_exhausted"
            extra = {
                "credited": str(budget.amount),
                "top_up": f"{base}/api/v1/subscriptions/{sub_id}/credits/checkout",
            }
        else:
            detail = (
                f"The spend cap of {budget.amount} {cur} for this billing period is reached "
                f"({spent} {cur} spent)."
            )
            reason = "budget_exceeded"
            headers.insert(0, (b"Retry-After", b"%d" % d.retry_after_s))
            extra = {
                "budget": str(budget.amount),
                "raise_budget": f"{base}/api/v1/subscriptions/{sub_id}/budget",
            }
        extra |= {
            "spent": str(spent),
            "currency": cur,
            "subscription_id": sub_id,
            "upgrade": f"{base}/portal",
        }
        self._refuse(ex, 402, detail, reason, headers, api=adm, extra=extra)

    def _refuse(
        self,
        ex: Exchange,
        status: int,
        detail: str,
        reason: str,
        headers: list[tuple[bytes, bytes]],
        api: Admission | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        ex.status = status
        ex.response_started = True
        close = not ex.body_done or not ex.keep_alive or self.app.draining
        self._send(
            R.problem(
                status,
                detail,
                reason=reason,
                request_id=ex.request_id,
                headers=headers,
                close=close,
                head_only=ex.method == "HEAD",
                extra=extra,
            )
        )
        if close:
            ex.keep_alive = False
        self.app.metrics.count(
            (api.route.label or api.route.api_id) if api is not None else "-", status
        )
        self._end(ex)
