"""Enforcement: from a request line and credential headers to an admission or a refusal.

Order of checks: path safety (400: dot segments, encoded ``/`` or ``\\``, NUL), route
(404), TRACE not declared by the API (405), query-string credentials and credential
(401), operation (404), subscription (403), environment deployment (404). Rate limits
and quotas (429) come after, in the proxy, because they may need Redis. Pure apart from
the snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

from tollway.gateway.auth import Authenticator, query_has_credential
from tollway.gateway.responses import (
    ALLOWED_METHODS,
    NO_CREDENTIAL_CHALLENGE,
    UNAUTHORIZED_CHALLENGE,
)
from tollway.gateway.snapshot import Credential, Plan, Route, Snapshot, Subscription, Upstream

SUBSCRIPTION_REASONS = {
    "on_hold": "subscription_on_hold",
    "blocked": "subscription_blocked",
    "cancelled": "subscription_cancelled",
    "expired": "subscription_expired",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    detail: str
    reason: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


class Admission(NamedTuple):  # a tuple: built on every call, so cheap to construct
    route: Route
    credential: Credential
    subscription: Subscription
    plan: Plan
    operation_id: str | None
    upstream: Upstream
    upstream_path: bytes  # base path of the upstream + the rest of the request path


NOT_FOUND_API = Refusal(404, "No API is published at this path.", "unknown_api")
NOT_FOUND_OPERATION = Refusal(404, "The API does not declare this operation.", "unknown_operation")
NOT_DEPLOYED = Refusal(
    404, "The API is not deployed in the credential's environment.", "not_deployed"
)
UNAUTHORIZED = Refusal(
    401,
    "A valid API key or access token is required.",
    "unauthorized",
    tuple(UNAUTHORIZED_CHALLENGE),
)
NO_CREDENTIAL = Refusal(
    401,
    "A valid API key or access token is required.",
    "unauthorized",
    tuple(NO_CREDENTIAL_CHALLENGE),
)
NO_SUBSCRIPTION = Refusal(
    403, "The application has no subscription to this API.", "no_subscription"
)
PLAN_MISSING = Refusal(403, "The subscription's plan is not available.", "plan_unavailable")
BAD_PATH = Refusal(
    400,
    "The path has dot segments, an encoded slash or backslash, or a NUL.",
    "bad_path",
)
TRACE_NOT_ALLOWED = Refusal(
    405,
    "TRACE is not allowed unless the API declares it.",
    "method_not_allowed",
    ((b"Allow", ALLOWED_METHODS),),
)
_DOT_SEGMENTS = (b".", b"..")


def unsafe_path(path: bytes) -> bool:
    """True when the raw request path could escape the declared operations or the
    upstream's base path once an upstream normalises it: a segment that is ``.`` or
    ``..`` (also percent-encoded, or followed by ``;`` path parameters), an encoded ``/``
    or ``\\`` (``%2F``, ``%5C``), a backslash, or a NUL (raw or ``%00``). Callers
    pre-check cheaply (see ``resolve``); the HTTP parser already refuses a raw backslash
    or NUL in the request target."""
    if b"\\" in path or b"\0" in path:
        return True
    if b"%" in path:
        lower = path.lower()
        if b"%2f" in lower or b"%5c" in lower or b"%00" in lower:
            return True
    for segment in path.split(b"/"):
        if b";" in segment:  # "..;x" is ".." to servers that strip path parameters
            segment = segment.partition(b";")[0]
        if segment in _DOT_SEGMENTS:
            return True
        if b"%" in segment and unquote_to_bytes(segment) in _DOT_SEGMENTS:
            return True
    return False


def split_path(path: bytes) -> tuple[str, str, bytes] | None:
    """``/context/version/rest`` -> (context, version, ``/rest``)."""
    if not path.startswith(b"/"):
        return None
    second = path.find(b"/", 1)
    if second < 0:
        return None
    third = path.find(b"/", second + 1)
    if third < 0:
        version, rest = path[second + 1 :], b"/"
    else:
        version, rest = path[second + 1 : third], path[third:]
    try:
        return path[1:second].decode("ascii"), version.decode("ascii"), rest
    except UnicodeDecodeError:
        return None


def _declares_trace(route: Route, rest: bytes) -> bool:
    if route.matcher.passthrough:
        return False
    try:
        return route.matcher.match("TRACE", rest.decode("utf-8")) is not None
    except UnicodeDecodeError:
        return False


def resolve(
    snapshot: Snapshot,
    auth: Authenticator,
    method: str,
    path: bytes,
    query: bytes,
    key_value: bytes | None,
    authorization: bytes | None,
    now_s: int,
) -> Admission | Refusal:
    # Dot segments and encoded separators would let a caller step out of the declared
    # operations (and the upstream's base path), since the rest of the path goes to the
    # upstream as is. The pre-check keeps ordinary paths off the slow check: ``int in
    # bytes`` is a memchr (a bytes needle costs several times more); 0x25 is "%", 0x2E
    # ".". A raw backslash or NUL never gets here: the HTTP parser refuses them.
    if (0x25 in path or (0x2E in path and path.find(b"/.") >= 0)) and unsafe_path(path):
        return BAD_PATH
    parts = split_path(path)
    if parts is None:
        return NOT_FOUND_API
    context, version, rest = parts
    route = snapshot.routes.get((context, version))
    if route is None or not route.reachable:
        return NOT_FOUND_API
    if method == "TRACE" and not _declares_trace(route, rest):
        return TRACE_NOT_ALLOWED  # it would echo the request, credentials included
    if query and query_has_credential(query, auth.header):
        return UNAUTHORIZED
    if key_value is None and authorization is None:
        return NO_CREDENTIAL
    credential = auth.authenticate(key_value, authorization, now_s)
    if credential is None:
        return UNAUTHORIZED
    operation_id: str | None = None
    if not route.matcher.passthrough:
        try:
            rest_text = rest.decode("utf-8")
        except UnicodeDecodeError:
            return NOT_FOUND_OPERATION
        operation_id = route.matcher.match(method, rest_text)
        if operation_id is None:
            return NOT_FOUND_OPERATION
    sub = snapshot.subscription_for(credential.application_id, route.api_id)
    if sub is None:
        return NO_SUBSCRIPTION
    if sub.state != "active":
        reason = SUBSCRIPTION_REASONS.get(sub.state, "subscription_inactive")
        return Refusal(403, f"The subscription is {sub.state.replace('_', ' ')}.", reason)
    plan = snapshot.plans.get(sub.plan_id)
    if plan is None:
        return PLAN_MISSING
    upstream = route.upstreams.get(credential.environment)
    if upstream is None:
        return NOT_DEPLOYED
    upstream_path = upstream.base_path.encode() + rest if upstream.base_path else rest
    return Admission(route, credential, sub, plan, operation_id, upstream, upstream_path)
