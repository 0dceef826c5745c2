"""Upstream half of the client protocol: send the request, relay the response, meter.

The usage event of a call is appended to the spool before the last byte of the
response is written to the client (see ``tollway.metering.spool``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

from tollway.gateway import responses as R
from tollway.gateway.exchange import (
    DROP_RESPONSE,
    MODE_CHUNKED,
    MODE_CLOSE,
    MODE_LENGTH,
    MODE_NONE,
    Exchange,
    budget_headers,
    parse_usage,
    rate_limit_headers,
    upstream_request_head,
)
from tollway.gateway.upstream import UpstreamConnection, UpstreamForbidden

if TYPE_CHECKING:
    from tollway.gateway.app import GatewayApp

log = logging.getLogger("tollway.gateway")

_PAUSE_UPSTREAM_FULL = 1
_PAUSE_BUFFER = 2
_PAUSE_PIPELINE = 4


class ResponseSide:
    app: GatewayApp
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport | None
    active: Exchange | None
    queue: deque[Exchange]
    peer: bytes
    closing: bool
    close_after: bool
    write_paused: bool
    paused: int
    last_rx: float  # loop time of the last bytes from the client
    _out: list[bytes]
    _corked: bool

    _held: list[bytes] | None
    _close_held: bool

    def cork(self) -> None:
        self._corked = True

    def uncork(self) -> None:
        self._corked = False
        if self._out:
            self._flush_out()

    def _flush_out(self) -> None:
        out, self._out = self._out, []
        if out:
            self._send(out[0] if len(out) == 1 else b"".join(out))

    def _send(self, data: bytes) -> None:
        """Every byte to the client goes through here. While usage events of this loop
        iteration are not yet in the spool, output waits (in order) for the spool write:
        the last byte of a response never leaves before its event is durable."""
        if self._held is not None:
            self._held.append(data)
        elif self.app.spool_pending:
            self._held = [data]
            self.app.hold(self)
        elif self.transport is not None:
            self.transport.write(data)

    def release_held(self) -> None:
        held, self._held = self._held, None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if held:
            transport.write(held[0] if len(held) == 1 else b"".join(held))
        if self._close_held:
            self._close_held = False
            transport.close()

    def abort_held(self) -> None:
        self._held = None
        self._close_held = False
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def _close_transport(self) -> None:
        if self._held is not None:
            self._close_held = True
        elif self.transport is not None:
            self.transport.close()

    def _emit(self, data: bytes) -> None:
        if self._corked:
            self._out.append(data)
        else:
            self._send(data)

    def _emit_chunk(self, data: bytes) -> None:
        if self._corked:
            self._out += (b"%x\r\n" % len(data), data, b"\r\n")
        else:
            self._send(b"".join((b"%x\r\n" % len(data), data, b"\r\n")))

    def pause(self, reason: int) -> None:
        raise NotImplementedError

    def resume(self, reason: int) -> None:
        raise NotImplementedError

    def _activate(self, ex: Exchange) -> None:
        raise NotImplementedError

    def fatal(self, response: bytes) -> None:
        raise NotImplementedError

    def shed(self, waiting_head: bool) -> None:
        raise NotImplementedError

    # --- sending ------------------------------------------------------------------
    async def connect_upstream(self, ex: Exchange) -> None:
        assert ex.admission is not None
        try:
            conn = await self.app.pool.connect(ex.admission.upstream)
        except TimeoutError:
            self._gateway_error(ex, 504, "The upstream did not accept the connection in time.")
            return
        except UpstreamForbidden:
            self._gateway_error(ex, 502, "The upstream's address is not allowed.")
            return
        except OSError:
            self._gateway_error(ex, 502, "The upstream refused the connection.")
            return
        if self.active is not ex or self.closing:
            conn.done(True)
            return
        self.send_upstream(ex, conn)

    def send_upstream(self, ex: Exchange, conn: UpstreamConnection) -> None:
        assert ex.admission is not None
        ex.conn = conn
        ex.sent_at = self.loop.time()
        conn.start(self, upstream_request_head(ex, ex.admission, self.peer))
        if self.write_paused:
            conn.pause_reading()
        if ex.body_buffer:
            chunks, ex.body_buffer = ex.body_buffer, []
            ex.body_buffered = 0
            for chunk in chunks:
                if ex.chunked:
                    assert conn.transport is not None
                    conn.transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
                else:
                    conn.write(chunk)
            self.resume(_PAUSE_BUFFER)
        if ex.chunked and ex.body_done:
            conn.write(b"0\r\n\r\n")
        elif ex.expect_continue and not ex.body_done and self.transport is not None:
            self._send(b"HTTP/1.1 100 Continue\r\n\r\n")

    def check_timeout(self, now: float) -> None:
        """Called periodically by the server: enforce the request body's read deadline
        and the upstream idle timeout."""
        ex = self.active
        if ex is None:
            return
        if (
            not ex.body_done
            and not self.paused  # not reading on purpose (back-pressure) is not the client's fault
            and now - self.last_rx > self.app.settings.body_timeout_s
        ):
            if ex.admission is not None and not ex.response_started:
                ex.status = 408
                self.app.record(ex)
            self.fatal(R.BODY_TIMEOUT_CLOSE)
            return
        if ex.conn is None or not ex.sent_at:
            return
        if now - max(ex.sent_at, ex.upstream_rx) < self.app.settings.upstream_timeout_s:
            return
        conn, ex.conn = ex.conn, None
        conn.sink = None
        conn.abort()
        if not ex.response_started:
            self._gateway_error(ex, 504, "The upstream did not answer in time.")
        else:
            self.app.record(ex)
            self._abort_client(ex)

    def upstream_pause_writing(self) -> None:
        self.pause(_PAUSE_UPSTREAM_FULL)

    def upstream_resume_writing(self) -> None:
        self.resume(_PAUSE_UPSTREAM_FULL)

    # --- ResponseSink -------------------------------------------------------------
    def upstream_headers(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        ex = self.active
        if ex is None:
            return
        ex.upstream_rx = self.loop.time()
        if status < 200:
            ex.informational = True  # e.g. 100 Continue from the upstream: swallow it
            return
        ex.informational = False
        self.app.metrics.upstream_latency.observe(ex.upstream_rx - ex.sent_at)
        adm = ex.admission
        assert adm is not None
        usage_header = adm.route.usage_header
        out = [R.status_line(status)]
        length: int | None = None
        for name, value in headers:
            lname = name.lower()
            if lname == b"content-length":
                length = int(value) if value.isdigit() else None
            elif lname not in DROP_RESPONSE:
                if lname == usage_header:
                    ex.usage_value = parse_usage(value)
                out.append(b"%s: %s\r\n" % (name, value))
        ex.status = status
        if ex.method == "HEAD" or status in (204, 304):
            ex.mode = MODE_NONE
            if length is not None and status != 204:
                out.append(b"Content-Length: %d\r\n" % length)
        elif length is not None:
            ex.mode = MODE_LENGTH if length else MODE_NONE
            ex.resp_length = length
            out.append(b"Content-Length: %d\r\n" % length)
        elif ex.http11:
            ex.mode = MODE_CHUNKED
            out.append(b"Transfer-Encoding: chunked\r\n")
        else:
            ex.mode = MODE_CLOSE
            ex.keep_alive = False
        out.append(b"X-Request-Id: %s\r\n" % ex.request_id.encode())
        out.extend(rate_limit_headers(ex.decision))
        out.extend(budget_headers(ex))
        if not ex.keep_alive or self.app.draining or (self.close_after and not self.queue):
            ex.keep_alive = False
            out.append(b"Connection: close\r\n")
        elif not ex.http11:
            out.append(b"Connection: keep-alive\r\n")
        out.append(b"\r\n")
        ex.response_started = True
        assert self.transport is not None
        if ex.mode == MODE_NONE:
            self.app.record(ex)  # the head is the last byte of this response
            self._emit(b"".join(out))
            ex.client_done = True
            if ex.method == "HEAD" and ex.conn is not None:
                # httptools cannot be told that a HEAD response has no body: drop it.
                conn, ex.conn = ex.conn, None
                conn.done(False)
                self._end(ex)
            return
        self._emit(b"".join(out))

    def upstream_body(self, data: bytes) -> None:
        ex = self.active
        if ex is None or ex.client_done or ex.informational:
            return
        ex.upstream_rx = self.loop.time()
        ex.response_bytes += len(data)
        if ex.mode == MODE_LENGTH:
            if ex.response_bytes >= ex.resp_length:
                self.app.record(ex)
            self._emit(data)
        elif ex.mode == MODE_CHUNKED:
            self._emit_chunk(data)
        else:
            self._emit(data)

    def upstream_complete(self, keep_alive: bool) -> None:
        ex = self.active
        if ex is None:
            return
        if ex.informational:
            ex.informational = False
            return
        if not ex.client_done:
            ex.client_done = True
            if ex.mode == MODE_CHUNKED:
                self.app.record(ex)
                self._emit(b"0\r\n\r\n")
            else:
                self.app.record(ex)
                if ex.mode == MODE_CLOSE:
                    ex.keep_alive = False
        conn, ex.conn = ex.conn, None
        if conn is not None:
            conn.done(keep_alive and ex.body_done)
        self._end(ex)

    def upstream_lost(self, received_anything: bool) -> None:
        ex = self.active
        if ex is None:
            return
        conn, ex.conn = ex.conn, None
        if not ex.response_started:
            if (
                conn is not None
                and conn.reused
                and not received_anything
                and not ex.retried
                and not ex.has_body
            ):
                ex.retried = True  # a pooled connection closed under us: one fresh try
                if ex.timer is not None:
                    ex.timer.cancel()
                    ex.timer = None
                self.loop.create_task(self.connect_upstream(ex))
                return
            self._gateway_error(ex, 502, "The upstream closed the connection.")
            return
        self.app.record(ex)
        self._abort_client(ex)

    # --- endings --------------------------------------------------------------------
    def _gateway_error(self, ex: Exchange, status: int, detail: str) -> None:
        if self.active is not ex or self.closing:
            return
        if ex.conn is not None:
            conn, ex.conn = ex.conn, None
            conn.sink = None
            conn.abort()
        ex.status = status
        ex.response_started = True
        ex.client_done = True
        adm = ex.admission
        log.warning(
            detail,
            extra={
                "request_id": ex.request_id,
                "status": status,
                "api": adm.route.api_id if adm is not None else None,
                "upstream": f"{adm.upstream.host}:{adm.upstream.port}" if adm else None,
            },
        )
        close = not ex.body_done or not ex.keep_alive
        self.app.record(ex)
        self._send(
            R.problem(
                status, detail, request_id=ex.request_id, close=close, head_only=ex.method == "HEAD"
            )
        )
        if close:
            ex.keep_alive = False
        self._end(ex)

    def _abort_client(self, ex: Exchange) -> None:
        ex.client_done = True
        ex.keep_alive = False
        self._end(ex)
        if self.transport is not None:
            self.transport.abort()

    def _end(self, ex: Exchange) -> None:
        if self._out:
            self._flush_out()  # before any close below
        if self.active is not ex:
            return
        if ex.timer is not None:
            ex.timer.cancel()
            ex.timer = None
        self.active = None
        app = self.app
        app.inflight -= 1
        app.ended(ex.generation)
        if ex.quota_sub is not None:
            app.quota_in_flight.ended(ex.quota_sub)
        adm = ex.admission
        if adm is not None:
            app.metrics.count(adm.route.label or adm.route.api_id, ex.status)
            app.metrics.latency.observe((time.perf_counter_ns() - ex.start_ns) / 1e9)
        if self.closing:
            return
        if not ex.keep_alive or app.draining or not ex.body_done:
            self.closing = True
            self._close_transport()
            return
        if self.queue:
            self._activate(self.queue.popleft())
        elif self.close_after:
            self.closing = True
            self._close_transport()
        else:
            app.clients.became_idle(self, self.loop.time())
            self.resume(_PAUSE_PIPELINE)
