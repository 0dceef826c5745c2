"""One request/response exchange and the header rewriting rules of the proxy."""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation

from tollway.gateway.enforce import Admission
from tollway.gateway.ratelimit import Decision
from tollway.gateway.snapshot import Budget
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
    """Per-call state. Defaults live on the class, so a new exchange only stores what
    changes (cheaper than setting forty attributes per call)."""

    method = "GET"
    generation = 0  # the configuration generation the call was admitted under
    path = b"/"
    query = b""
    http11 = True
    keep_alive = True
    host: bytes | None = None
    key_value: bytes | None = None
    authorization: bytes | None = None
    xff: bytes | None = None
    content_length: int | None = None
    chunked = False
    expect_continue = False
    body_buffered = 0
    body_done = False
    request_bytes = 0
    request_id = ""
    start_ns = 0
    ts_ms = 0
    admission: Admission | None = None
    decision: Decision | None = None
    conn: UpstreamConnection | None = None
    sent_at = 0.0
    upstream_rx = 0.0
    timer: asyncio.TimerHandle | None = None
    retried = False
    response_started = False
    informational = False
    client_done = False
    metered = False
    status = 0
    mode = MODE_NONE
    resp_length = 0
    response_bytes = 0
    usage_value: Decimal | None = None
    quota_sub: str | None = None  # admitted under a hard quota: counted in flight until the end

    def __init__(self) -> None:
        self.forward_headers: list[bytes] = []  # b"Name: value\r\n" lines
        self.body_buffer: list[bytes] = []

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


def budget_header_pairs(budget: Budget, spent: Decimal) -> list[tuple[bytes, bytes]]:
    """``Tollway-Budget-*``: the cap, the usage charges so far and what is left, each
    with the currency (e.g. ``0.04 USD``); ``Tollway-Credit-*`` for a prepaid balance."""
    if budget.prepaid:  # a credit balance: what was bought, what calls used, what is left
        names = (b"Tollway-Credit-Total", b"Tollway-Credit-Used", b"Tollway-Credit-Balance")
    else:
        names = (b"Tollway-Budget-Limit", b"Tollway-Budget-Spent", b"Tollway-Budget-Remaining")
    cur = budget.currency.encode()
    left = budget.amount - spent  # keeps the currency's decimal places ("0.00")
    if left < 0:
        left = budget.amount - budget.amount
    return [
        (names[0], b"%s %s" % (str(budget.amount).encode(), cur)),
        (names[1], b"%s %s" % (str(spent).encode(), cur)),
        (names[2], b"%s %s" % (str(left).encode(), cur)),
    ]


def budget_headers(ex: Exchange) -> list[bytes]:
    """The budget headers of an admitted call on a subscription with a budget (the
    spend includes this call)."""
    adm, d = ex.admission, ex.decision
    if adm is None or d is None or d.used < 0:
        return []
    budget = adm.subscription.budget
    if budget is None:
        return []
    return [n + b": " + v + b"\r\n" for n, v in budget_header_pairs(budget, budget.spent(d.used))]


def upstream_request_head(ex: Exchange, admission: Admission, peer: bytes) -> bytes:
    target = admission.upstream_path
    if ex.query:
        target = b"%s?%s" % (target, ex.query)
    if ex.content_length is not None:
        framing = b"Content-Length: %d\r\n" % ex.content_length
    elif ex.chunked:
        framing = b"Transfer-Encoding: chunked\r\n"
    else:
        framing = b""
    return (
        b"%s %s HTTP/1.1\r\nHost: %s\r\n%sX-Forwarded-For: %s%s\r\n"
        b"X-Forwarded-Proto: http\r\n%sX-Request-Id: %s\r\n%s\r\n"
        % (
            ex.method.encode(),
            target,
            admission.upstream.host_header.encode(),
            b"".join(ex.forward_headers),
            ex.xff + b", " if ex.xff else b"",
            peer,
            b"X-Forwarded-Host: %s\r\n" % ex.host if ex.host is not None else b"",
            ex.request_id.encode(),
            framing,
        )
    )
