"""Identifiers: a short type prefix plus a time-ordered random part.

``new_id("api")`` -> ``api_01JD3ZQ7K8...``. The random part is 16 bytes of a ULID
(48-bit millisecond time + 80 random bits) in Crockford base32, so ids sort by creation
time, which keeps database indexes and ledger batches local. Pure except for the
randomness and the time passed in.
"""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now_ms: int, rand: bytes | None = None) -> str:
    """A 26-character ULID for the given millisecond timestamp."""
    r = rand if rand is not None else secrets.token_bytes(10)
    value = (now_ms & ((1 << 48) - 1)) << 80 | int.from_bytes(r[:10], "big")
    out = []
    for _ in range(26):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(prefix: str, now_ms: int | None = None) -> str:
    """A new id with the given prefix; ``now_ms`` defaults to the wall clock."""
    if now_ms is None:
        import time

        now_ms = time.time_ns() // 1_000_000
    return f"{prefix}_{ulid(now_ms)}"
