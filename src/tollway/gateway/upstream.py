"""Upstream side: pooled keep-alive HTTP/1.1 connections parsed with httptools.

An ``UpstreamConnection`` serves one exchange at a time and reports the response to
its ``sink`` (the client-side exchange) through plain method calls. After a complete
response with keep-alive it goes back to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from typing import TYPE_CHECKING, Protocol, cast

import httptools

from tollway.gateway.snapshot import Upstream

if TYPE_CHECKING:
    from tollway.security.ssrf import UrlGuard

log = logging.getLogger("tollway.gateway.upstream")


class UpstreamForbidden(OSError):
    """The upstream host resolves (now) to an address the SSRF guard refuses."""


class ResponseSink(Protocol):
    def cork(self) -> None: ...

    def uncork(self) -> None: ...

    def upstream_headers(self, status: int, headers: list[tuple[bytes, bytes]]) -> None: ...

    def upstream_body(self, data: bytes) -> None: ...

    def upstream_complete(self, keep_alive: bool) -> None: ...

    def upstream_lost(self, received_anything: bool) -> None: ...

    def upstream_pause_writing(self) -> None: ...

    def upstream_resume_writing(self) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "_close_delimited",
        "_framed",
        "_headers",
        "_parser",
        "closed",
        "key",
        "pool",
        "received",
        "reused",
        "sink",
        "transport",
    )

    def __init__(self, pool: UpstreamPool, key: tuple[str, str, int]) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.sink: ResponseSink | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[bytes, bytes]] = []
        self._close_delimited = False
        self._framed = False
        self.received = False
        self.reused = False
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.received = True
        sink = self.sink
        if sink is not None:
            sink.cork()  # gather everything this packet produces into one client write
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.abort()
        except httptools.HttpParserUpgrade:
            self.abort()
        finally:
            if sink is not None:
                sink.uncork()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if self.sink is not None and self._close_delimited:
            self.sink.upstream_complete(False)  # end of a close-delimited body
        sink, self.sink = self.sink, None
        if sink is not None:  # still attached: the response did not complete
            sink.upstream_lost(self.received)

    def pause_writing(self) -> None:
        if self.sink is not None:
            self.sink.upstream_pause_writing()

    def resume_writing(self) -> None:
        if self.sink is not None:
            self.sink.upstream_resume_writing()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._headers = []
        self._close_delimited = False
        self._framed = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        if len(name) in (14, 17):  # content-length / transfer-encoding
            lname = name.lower()
            if lname == b"content-length" or (
                lname == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                self._framed = True

    def on_headers_complete(self) -> None:
        sink = self.sink
        status = self._parser.get_status_code()
        self._close_delimited = status >= 200 and status not in (204, 304) and not self._framed
        if sink is not None:
            sink.upstream_headers(status, self._headers)

    def on_body(self, body: bytes) -> None:
        sink = self.sink
        if sink is not None:
            sink.upstream_body(body)

    def on_message_complete(self) -> None:
        self._close_delimited = False
        sink = self.sink
        if sink is not None:
            keep_alive = bool(self._parser.should_keep_alive())
            sink.upstream_complete(keep_alive)

    # used by the exchange
    def start(self, sink: ResponseSink, head: bytes) -> None:
        self.sink = sink
        self.received = False
        assert self.transport is not None
        self.transport.write(head)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def done(self, keep_alive: bool) -> None:
        """The exchange is over: pool the connection or close it."""
        self.sink = None
        if keep_alive and not self.closed:
            self.resume_reading()
            self.reused = True
            self.pool.release(self)
        else:
            self.closed = True
            if self.transport is not None:
                self.transport.close()


class UpstreamPool:
    def __init__(
        self, *, connect_timeout_s: float, max_idle: int = 256, guard: UrlGuard | None = None
    ) -> None:
        """``guard``: when set, every new connection resolves the upstream host, vets
        every address (SSRF rules and allow-list) and connects to a vetted address, so
        a host name re-pointed (DNS rebinding) at a private address after the upstream
        URL was checked is refused. Pooled keep-alive connections are reused as they are."""
        self.connect_timeout_s = connect_timeout_s
        self.max_idle = max_idle
        self.guard = guard
        self._idle: dict[tuple[str, str, int], deque[UpstreamConnection]] = {}
        self._ssl: ssl.SSLContext | None = None

    def acquire_idle(self, upstream: Upstream) -> UpstreamConnection | None:
        idle = self._idle.get(upstream.key)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    async def connect(self, upstream: Upstream) -> UpstreamConnection:
        """A new connection; raises ``TimeoutError`` or ``OSError``."""
        loop = asyncio.get_running_loop()
        context: ssl.SSLContext | None = None
        if upstream.scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        if self.guard is not None:
            return await asyncio.wait_for(
                self._connect_vetted(upstream, context), self.connect_timeout_s
            )
        _, proto = await asyncio.wait_for(
            loop.create_connection(
                lambda: UpstreamConnection(self, upstream.key),
                upstream.host,
                upstream.port,
                ssl=context,
                server_hostname=upstream.host if context else None,
            ),
            self.connect_timeout_s,
        )
        return proto

    async def _connect_vetted(
        self, upstream: Upstream, context: ssl.SSLContext | None
    ) -> UpstreamConnection:
        from tollway.domain.errors import UnsafeUrl

        assert self.guard is not None
        host = f"[{upstream.host}]" if ":" in upstream.host else upstream.host
        url = f"{upstream.scheme}://{host}:{upstream.port}/"
        try:
            # getaddrinfo blocks: in a thread, as create_connection would do it
            target = await asyncio.to_thread(self.guard.pinned_target, url)
        except UnsafeUrl as exc:
            log.warning(
                "upstream address refused by the SSRF guard",
                extra={"upstream": upstream.host, "reason": str(exc)},
            )
            raise UpstreamForbidden(str(exc)) from None
        loop = asyncio.get_running_loop()
        error: OSError | None = None
        for ip in target.addresses:  # connect to the addresses that were vetted, in order
            try:
                _, proto = await loop.create_connection(
                    lambda: UpstreamConnection(self, upstream.key),
                    str(ip),
                    upstream.port,
                    ssl=context,
                    server_hostname=upstream.host if context else None,
                )
                return proto
            except OSError as exc:
                error = exc
        assert error is not None  # pinned_target never returns an empty address list
        raise error

    def release(self, conn: UpstreamConnection) -> None:
        idle = self._idle.setdefault(conn.key, deque())
        if len(idle) >= self.max_idle:
            conn.closed = True
            if conn.transport is not None:
                conn.transport.close()
            return
        idle.append(conn)

    def forget(self, conn: UpstreamConnection) -> None:
        idle = self._idle.get(conn.key)
        if idle:
            with contextlib.suppress(ValueError):
                idle.remove(conn)

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.closed = True
                if conn.transport is not None:
                    conn.transport.close()
        self._idle.clear()
