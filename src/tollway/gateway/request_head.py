"""Reading a parsed request head into an ``Exchange``, and the protocol edges the gateway
refuses before routing.

Refused here (the connection is closed after the answer): request heads over
``max_header_bytes`` (431), HTTP versions other than 1.0 and 1.1 (505; an HTTP/0.9
request line gets the same answer as soon as its line ends), protocol upgrades such as
WebSocket or h2c (501: the gateway proxies HTTP/1.1 only) and ``CONNECT`` (405: the
gateway is not a forward proxy). ``TRACE`` is refused in ``enforce`` unless the API
declares a TRACE operation for the path.
"""

from __future__ import annotations

from tollway.gateway import responses as R
from tollway.gateway.exchange import DROP_REQUEST, Exchange

SUPPORTED_VERSIONS = frozenset({"1.0", "1.1"})

HTTP_VERSION_REFUSED = R.problem(
    505,
    "Only HTTP/1.0 and HTTP/1.1 are supported.",
    reason="http_version_not_supported",
    close=True,
)
UPGRADE_REFUSED = R.problem(
    501,
    "Protocol upgrades (WebSocket, h2c) are not supported by this gateway.",
    reason="upgrade_not_supported",
    close=True,
)
CONNECT_REFUSED = R.problem(
    405,
    "CONNECT is not allowed: this gateway is not a forward proxy.",
    reason="method_not_allowed",
    headers=[(b"Allow", R.ALLOWED_METHODS)],
    close=True,
)


class HeadRefused(Exception):
    """Raised from a parser callback; ``response`` is what the client gets before the
    connection closes. (httptools wraps exceptions raised in callbacks, so the protocol
    keeps the response aside rather than relying on the exception's type.)"""

    def __init__(self, response: bytes) -> None:
        super().__init__()
        self.response = response


def refusal(version: str, method: str, upgrade: bool) -> bytes | None:
    """The answer to a request head the gateway never forwards, or None."""
    if version not in SUPPORTED_VERSIONS:
        return HTTP_VERSION_REFUSED
    if method == "CONNECT":
        return CONNECT_REFUSED
    if upgrade:
        return UPGRADE_REFUSED
    return None


def scan_headers(ex: Exchange, raw_headers: list[tuple[bytes, bytes]], key_header: bytes) -> bool:
    """Fill ``ex`` from the raw headers; False when the framing or the credentials are
    ambiguous (two Content-Lengths or Hosts, Content-Length with chunked, a
    Transfer-Encoding other than ``chunked``, two keys, two Authorization headers)."""
    hosts = 0
    te = 0
    fwd = ex.forward_headers
    connection_tokens: list[bytes] = []
    for name, value in raw_headers:
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
