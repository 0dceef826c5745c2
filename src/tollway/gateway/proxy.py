"""Client side of the proxy: an asyncio protocol parsing HTTP/1.1 with httptools.

One exchange is active per connection (pipelined requests wait in order). Request
bodies stream to the upstream as they arrive and response bodies stream back; each
direction pauses its reader while the other side's write buffer is full. Anything
malformed or ambiguous (Content-Length with Transfer-Encoding, bad chunk sizes,
several Host or Content-Length headers, control characters in headers) is answered
with 400 and the connection is closed.
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
from tollway.gateway.exchange import DROP_REQUEST, Exchange
from tollway.gateway.ratelimit import ALLOW_UNLIMITED, Decision, unlimited
from tollway.gateway.response_side import ResponseSide

PAUSE_UPSTREAM_FULL = 1
PAUSE_BUFFER = 2
PAUSE_PIPELINE = 4
BUFFER_LIMIT = 256 * 1024


class _TooLarge(Exception):
    pass


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
        self._header_bytes = 0
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
        self.last_active = time.monotonic()

    # --- connection -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = str(peer[0]).encode()
        self.app.connections.add(self)
        self.app.metrics.connections.inc()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.app.connections.discard(self)
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
        self.last_active = time.monotonic()
        error: bytes | None = None
        try:
            self.parser.feed_data(data)
        except _TooLarge:
            error = R.HEADERS_TOO_LARGE_CLOSE
        except Exception:
            error = R.BAD_REQUEST_CLOSE
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
        ex = Exchange()
        ex.start_ns = time.perf_counter_ns()
        ex.ts_ms = time.time_ns() // 1_000_000
        self.parsing = ex
        self._url = []
        self._raw_headers = []
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._header_bytes += len(url)
        if self._header_bytes > self.app.settings.max_header_bytes:
            raise _TooLarge
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self.app.settings.max_header_bytes:
            raise _TooLarge
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        ex = self.parsing
        assert ex is not None
        p = self.parser
        ex.method = p.get_method().decode("ascii")
        ex.http11 = p.get_http_version() == "1.1"
        ex.keep_alive = bool(p.should_keep_alive())
        url = httptools.parse_url(b"".join(self._url))
        if url.path is None or not url.path.startswith(b"/"):
            raise ValueError("bad request target")
        ex.path = url.path
        ex.query = url.query or b""
        if not self._scan_headers(ex):
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

    def _scan_headers(self, ex: Exchange) -> bool:
        key_header = self.app.auth.header
        hosts = 0
        te = 0
        fwd = ex.forward_headers
        connection_tokens: list[bytes] = []
        for name, value in self._raw_headers:
            lname = name.lower()
            if lname == b"content-length":
                if ex.content_length is not None or not value.isdigit() or len(value) > 18:
                    return False
                ex.content_length = int(value)
            elif lname == b"transfer-encoding":
                te += 1
                if value.strip().lower() != b"chunked":
                    return False
                ex.chunked = True
            elif lname == b"host":
                hosts += 1
                ex.host = value
            elif lname == key_header:
                if ex.key_value is not None:
                    return False
                ex.key_value = value
            elif lname == b"authorization":
                if ex.authorization is not None:
                    return False
                ex.authorization = value
                if value[:7].lower() != b"bearer ":
                    fwd.append(b"%s: %s\r\n" % (name, value))
            elif lname == b"x-forwarded-for":
                ex.xff = value if ex.xff is None else ex.xff + b", " + value
            elif lname == b"expect":
                ex.expect_continue = value.strip().lower() == b"100-continue"
            elif lname == b"connection":
                connection_tokens.extend(t.strip().lower() for t in value.split(b","))
            elif lname not in DROP_REQUEST:
                fwd.append(b"%s: %s\r\n" % (name, value))
        if te > 1 or hosts > 1 or (ex.chunked and ex.content_length is not None):
            return False
        if ex.http11 and hosts == 0:
            return False
        if connection_tokens:
            drop = {t for t in connection_tokens if t not in (b"close", b"keep-alive")}
            if drop:
                ex.forward_headers[:] = [h for h in fwd if h.split(b":", 1)[0].lower() not in drop]
        return True

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
            self._refuse(ex, result.status, result.detail, result.reason, list(result.headers))
            return
        ex.admission = result
        limiter = self.app.limiter
        if limiter.is_async:
            if unlimited(result.plan):  # nothing to ask Redis: no task, no loop round trip
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
        assert ex.admission is not None
        conn = self.app.pool.acquire_idle(ex.admission.upstream)
        if conn is not None:
            self.send_upstream(ex, conn)
        else:
            self.loop.create_task(self.connect_upstream(ex))

    def _refuse(
        self,
        ex: Exchange,
        status: int,
        detail: str,
        reason: str,
        headers: list[tuple[bytes, bytes]],
        api: Admission | None = None,
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
            )
        )
        if close:
            ex.keep_alive = False
        self.app.metrics.count(
            (api.route.label or api.route.api_id) if api is not None else "-", status
        )
        self._end(ex)
