"""Stripe-looking object ids."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def rand(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def new_id(prefix: str) -> str:
    """``prod_`` + 14 characters, like Stripe; a few prefixes use longer bodies."""
    if prefix in ("cs_test", "mtr_test"):
        return f"{prefix}_a1{rand(56 if prefix == 'cs_test' else 28)}"
    if prefix in ("price", "sub", "in", "evt", "pi", "pm", "we", "clock", "bps", "il", "ii"):
        return f"{prefix}_1{rand(23)}"
    return f"{prefix}_{rand(14)}"
