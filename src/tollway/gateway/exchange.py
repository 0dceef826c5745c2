"""One request/response exchange and the header rewriting rules of the proxy."""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation

from tollway.gateway.enforce import Admission
from tollway.gateway.ratelimit import Decision
from tollway.gateway.upstream import UpstreamConnection

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Request headers never passed upstream as received (re-added by the gateway or dropped).
DROP_REQUEST = HOP_BY_HOP | {
    b"host",
    b"content-length",
    b"expect",
    b"x-request-id",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
}
DROP_RESPONSE = HOP_BY_HOP | {b"content-length"}

# response framing towards the client
MODE_NONE = 0  # no body (HEAD, 204, 304, Content-Length: 0)
MODE_LENGTH = 1
MODE_CHUNKED = 2
MODE_CLOSE = 3


class Exchange:
    __slots__ = (
        "admission",
        "authorization",
        "body_buffer",
        "body_buffered",
        "body_done",
        "chunked",
        "client_done",
        "conn",
        "content_length",
        "decision",
        "expect_continue",
        "forward_headers",
        "host",
        "http11",
        "informational",
        "keep_alive",
        "key_value",
        "metered",
        "method",
        "mode",
        "path",
        "query",
        "request_bytes",
        "request_id",
        "resp_length",
        "response_bytes",
        "response_started",
        "retried",
        "sent_at",
        "start_ns",
        "status",
        "timer",
        "ts_ms",
        "upstream_rx",
        "usage_value",
        "xff",
    )

    def __init__(self) -> None:
        self.method = "GET"
        self.path = b"/"
        self.query = b""
        self.http11 = True
        self.keep_alive = True
        self.host: bytes | None = None
        self.key_value: bytes | None = None
        self.authorization: bytes | None = None
        self.xff: bytes | None = None
        self.forward_headers: list[bytes] = []  # b"Name: value\r\n" lines
        self.content_length: int | None = None
        self.chunked = False
        self.expect_continue = False
        self.body_buffer: list[bytes] = []
        self.body_buffered = 0
        self.body_done = False
        self.request_bytes = 0
        self.request_id = ""
        self.start_ns = 0
        self.ts_ms = 0
        self.admission: Admission | None = None
        self.decision: Decision | None = None
        self.conn: UpstreamConnection | None = None
        self.sent_at = 0.0
        self.upstream_rx = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.retried = False
        self.response_started = False
        self.informational = False
        self.client_done = False
        self.metered = False
        self.status = 0
        self.mode = MODE_NONE
        self.resp_length = 0
        self.response_bytes = 0
        self.usage_value: Decimal | None = None

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)


def parse_usage(value: bytes) -> Decimal | None:
    try:
        d = Decimal(value.decode("ascii").strip())
    except (InvalidOperation, UnicodeDecodeError):
        return None
    return d if d.is_finite() else None


def rate_limit_headers(d: Decision | None) -> list[bytes]:
    if d is None or not d.limit:
        return []
    return [
        b"RateLimit-Limit: %d\r\n" % d.limit,
        b"RateLimit-Remaining: %d\r\n" % d.remaining,
        b"RateLimit-Reset: %d\r\n" % d.reset_s,
    ]


def upstream_request_head(ex: Exchange, admission: Admission, peer: bytes) -> bytes:
    target = admission.upstream_path
    if ex.query:
        target = target + b"?" + ex.query
    lines = [
        ex.method.encode(),
        b" ",
        target,
        b" HTTP/1.1\r\nHost: ",
        admission.upstream.host_header.encode(),
        b"\r\n",
    ]
    lines.extend(ex.forward_headers)
    lines.append(b"X-Forwarded-For: ")
    if ex.xff:
        lines.append(ex.xff + b", ")
    lines.append(peer)
    lines.append(b"\r\nX-Forwarded-Proto: http\r\n")
    if ex.host is not None:
        lines.append(b"X-Forwarded-Host: " + ex.host + b"\r\n")
    lines.append(b"X-Request-Id: " + ex.request_id.encode() + b"\r\n")
    if ex.content_length is not None:
        lines.append(b"Content-Length: %d\r\n" % ex.content_length)
    elif ex.chunked:
        lines.append(b"Transfer-Encoding: chunked\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)
