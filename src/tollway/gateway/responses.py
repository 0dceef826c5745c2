"""Ready-made HTTP/1.1 responses the gateway writes itself (refusals and errors)."""

from __future__ import annotations

import json
from http import HTTPStatus

REASONS: dict[int, bytes] = {s.value: s.phrase.encode("latin-1") for s in HTTPStatus}

PROBLEM_TYPES = {
    400: "bad-request",
    401: "unauthorized",
    402: "payment-required",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "request-timeout",
    413: "payload-too-large",
    429: "too-many-requests",
    431: "request-header-fields-too-large",
    501: "not-implemented",
    502: "bad-gateway",
    503: "service-unavailable",
    504: "gateway-timeout",
    505: "http-version-not-supported",
}
# What the gateway forwards (TRACE only to an API that declares it; never CONNECT).
ALLOWED_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


# Refusals whose problem body links to the developer portal, where APIs, keys and
# subscriptions are found.
PORTAL_REASONS = frozenset({"unknown_api", "unauthorized", "no_subscription"})


def portal_link(control_plane_url: str, reason: str) -> dict[str, str] | None:
    """``{"portal": <url>}`` for a refusal a newcomer meets (no API at the path, no
    credential, no subscription), when the gateway knows the control plane's address."""
    if not control_plane_url or reason not in PORTAL_REASONS:
        return None
    return {"portal": control_plane_url.rstrip("/") + "/portal"}


def status_line(status: int) -> bytes:
    return b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b"Unknown"))


def problem(
    status: int,
    detail: str,
    *,
    reason: str | None = None,
    request_id: str = "",
    headers: list[tuple[bytes, bytes]] | None = None,
    close: bool = False,
    head_only: bool = False,
    extra: dict[str, str] | None = None,
) -> bytes:
    """A complete ``application/problem+json`` response (RFC 9457)."""
    doc: dict[str, object] = {
        "type": f"https://tollway.dev/problems/{PROBLEM_TYPES.get(status, 'error')}",
        "title": HTTPStatus(status).phrase if status in REASONS else "Error",
        "status": status,
        "detail": detail,
    }
    if reason:
        doc["reason"] = reason
    if request_id:
        doc["request_id"] = request_id
    if extra:
        doc.update(extra)
    body = json.dumps(doc, separators=(",", ":")).encode()
    parts = [
        status_line(status),
        b"Content-Type: application/problem+json\r\n",
        b"Content-Length: %d\r\n" % len(body),
        b"Cache-Control: no-store\r\n",
    ]
    if request_id:
        parts.append(b"X-Request-Id: %s\r\n" % request_id.encode())
    for name, value in headers or ():
        parts.append(name + b": " + value + b"\r\n")
    if close:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    if not head_only:
        parts.append(body)
    return b"".join(parts)


UNAUTHORIZED_CHALLENGE = [(b"WWW-Authenticate", b'Bearer realm="tollway", error="invalid_token"')]
NO_CREDENTIAL_CHALLENGE = [(b"WWW-Authenticate", b'Bearer realm="tollway"')]

BAD_REQUEST_CLOSE = problem(400, "Malformed or ambiguous HTTP request.", close=True)
HEADERS_TOO_LARGE_CLOSE = problem(
    431, "Request headers are too large.", reason="headers_too_large", close=True
)
HEADER_TIMEOUT_CLOSE = problem(
    408, "The request head did not arrive in time.", reason="header_timeout", close=True
)
BODY_TIMEOUT_CLOSE = problem(
    408, "The request body stopped arriving.", reason="body_timeout", close=True
)
TOO_MANY_CONNECTIONS_CLOSE = problem(
    503,
    "The gateway has too many open connections; try again shortly.",
    reason="too_many_connections",
    headers=[(b"Retry-After", b"1")],
    close=True,
)
