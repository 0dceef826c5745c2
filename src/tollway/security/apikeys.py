"""API keys: ``tw_<env>_<random><checksum>``.

* ``env`` is ``prod`` or ``dev`` so a leaked key is recognizable (and secret scanners can
  match ``tw_(prod|dev)_[0-9A-Za-z]{39}``).
* ``random`` is 33 base62 characters from :mod:`secrets` (33 * log2(62) ~ 196 bits).
* ``checksum`` is the CRC32 of ``tw_<env>_<random>`` in 6 base62 characters, so a typo or
  a truncated key is refused by :func:`is_well_formed` without any database lookup.

Only :func:`hash_api_key` (hex SHA-256) is ever stored. A fast hash is right here: the
key has ~196 bits of entropy, so brute force is hopeless whatever the hash speed, and the
gateway must hash on every request. See ``docs/security.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

from tollway.security._base62 import crc32_checksum, random_base62

Environment = Literal["production", "development"]

KEY_PREFIX = "tw_"
RANDOM_LENGTH = 33
CHECKSUM_LENGTH = 6
DISPLAY_PREFIX_LENGTH = 12

_ENV_TAGS: dict[str, str] = {"production": "prod", "development": "dev"}
_TAG_ENVS: dict[str, str] = {v: k for k, v in _ENV_TAGS.items()}

_KEY_RE = re.compile(
    rf"\Atw_(prod|dev)_([0-9A-Za-z]{{{RANDOM_LENGTH}}})([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})\Z"
)
_MAX_KEY_LENGTH = len("tw_prod_") + RANDOM_LENGTH + CHECKSUM_LENGTH


@dataclass(frozen=True, slots=True)
class GeneratedApiKey:
    """A new key: ``raw`` is shown to the user once, ``hash`` is what gets stored."""

    raw: str
    hash: str
    display_prefix: str

    def __repr__(self) -> str:  # never print the raw key by accident
        return f"GeneratedApiKey(display_prefix={self.display_prefix!r}, hash={self.hash!r})"


def generate_api_key(environment: Environment) -> GeneratedApiKey:
    """A new random API key for ``environment`` (``production`` or ``development``)."""
    try:
        tag = _ENV_TAGS[environment]
    except KeyError:
        raise ValueError(f"unknown environment {environment!r}") from None
    body = f"{KEY_PREFIX}{tag}_{random_base62(RANDOM_LENGTH)}"
    raw = body + crc32_checksum(body)
    return GeneratedApiKey(raw=raw, hash=hash_api_key(raw), display_prefix=display_prefix(raw))


def display_prefix(raw: str) -> str:
    """The first characters of a key (prefix + a few random characters), safe to show."""
    return raw[:DISPLAY_PREFIX_LENGTH]


def is_well_formed(raw: str) -> bool:
    """True when ``raw`` has the key format and a correct checksum (no database needed)."""
    if len(raw) > _MAX_KEY_LENGTH:
        return False
    m = _KEY_RE.match(raw)
    if m is None:
        return False
    body_end = m.end(2)
    expected = crc32_checksum(raw[:body_end])
    return hmac.compare_digest(expected, m.group(3))


def hash_api_key(raw: str) -> str:
    """The stored form of a key: hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def environment_of(raw: str) -> str | None:
    """``production`` / ``development`` for a well-formed key, else None."""
    if not is_well_formed(raw):
        return None
    return _TAG_ENVS[raw.split("_", 2)[1]]


def looks_like_api_key(raw: str) -> bool:
    """True when ``raw`` starts like a Tollway key (used to pick the credential type)."""
    return raw.startswith(("tw_prod_", "tw_dev_"))
