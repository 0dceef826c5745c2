"""Base62 helpers shared by the credential formats (keys, client ids and secrets)."""

from __future__ import annotations

import secrets
import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_base62(length: int) -> str:
    """``length`` characters drawn uniformly from the base62 alphabet (about 5.95 bits each)."""
    choice = secrets.choice
    return "".join(choice(ALPHABET) for _ in range(length))


def encode_fixed(value: int, width: int) -> str:
    """``value`` in base62, left-padded with ``0`` to exactly ``width`` characters."""
    if value < 0:
        raise ValueError("value must be non-negative")
    out = []
    for _ in range(width):
        value, rem = divmod(value, 62)
        out.append(ALPHABET[rem])
    if value:
        raise ValueError("value does not fit in the requested width")
    return "".join(reversed(out))


def crc32_checksum(text: str) -> str:
    """The 6-character base62 CRC32 of ``text`` (62**6 > 2**32, so it always fits)."""
    return encode_fixed(zlib.crc32(text.encode("ascii")), 6)
