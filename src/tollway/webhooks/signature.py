"""Stripe webhook signatures, verified on the raw request body.

Header: ``Stripe-Signature: t=<unix time>,v1=<hex>,v1=<hex>,v0=<hex>``. The signed
payload is ``"<t>." + raw body``, HMAC-SHA256 with the endpoint's signing secret
(``whsec_...``). Rules:

* any ``v1`` signature matching any configured secret is enough (Stripe sends one
  ``v1`` per active secret while a secret is being rolled; Tollway may hold several);
* ``v0`` and other schemes are ignored;
* the timestamp must be within ``tolerance`` seconds (default 300) of now, in the past
  (replays) and in the future (a forged far-future timestamp would stay valid forever).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

DEFAULT_TOLERANCE_S = 300


class SignatureError(Exception):
    """The request is not a valid, fresh Stripe webhook delivery."""


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``v1`` signature for ``payload`` (used by tests and the emulator alike)."""
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def header(payload: bytes, secrets: Sequence[str], timestamp: int) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={sign(payload, s, timestamp)}" for s in secrets)])


MAX_HEADER_LENGTH = 4096
MAX_SIGNATURES = 16
_HEX = frozenset("0123456789abcdef")


def parse_header(value: str) -> tuple[int, list[str]]:
    """``(timestamp, v1 signatures)`` of a ``Stripe-Signature`` header value.

    Anything malformed is a ``SignatureError`` (a 400), never another exception: the
    header is attacker-controlled and read before anything is authenticated.
    """
    if len(value) > MAX_HEADER_LENGTH or not value.isascii():
        raise SignatureError("the signature header is malformed")
    timestamp: int | None = None
    v1: list[str] = []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        item = item.strip()
        if not sep:
            continue
        if key == "t":
            if not (item.isdigit() and len(item) <= 12):
                raise SignatureError("the signature header has a malformed timestamp")
            timestamp = int(item)
        elif key == "v1" and item:
            candidate = item.lower()
            if len(candidate) == 64 and set(candidate) <= _HEX:
                v1.append(candidate)  # anything else can never match: skipped, as Stripe does
    if timestamp is None:
        raise SignatureError("the signature header has no timestamp")
    if not v1:
        raise SignatureError("the signature header has no v1 signature")
    if len(v1) > MAX_SIGNATURES:
        raise SignatureError("the signature header has too many signatures")
    return timestamp, v1


def verify(
    payload: bytes,
    signature_header: str | None,
    secrets: Sequence[str],
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_S,
) -> int:
    """Check the delivery; returns the index of the secret that matched.

    Raises ``SignatureError`` for a missing/malformed header, a timestamp outside the
    tolerance (either direction) or no matching signature.
    """
    if not signature_header:
        raise SignatureError("missing Stripe-Signature header")
    if not secrets:
        raise SignatureError("no webhook signing secret is configured")
    timestamp, signatures = parse_header(signature_header)
    if timestamp < now - tolerance:
        raise SignatureError("the signature timestamp is too old")
    if timestamp > now + tolerance:
        raise SignatureError("the signature timestamp is in the future")
    for index, secret in enumerate(secrets):
        expected = sign(payload, secret, timestamp)
        if any(hmac.compare_digest(expected, candidate) for candidate in signatures):
            return index
    raise SignatureError("no signature matches the configured signing secret(s)")
