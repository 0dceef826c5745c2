"""One-time messages shown on the next page ("Application created").

Kept in a signed cookie (HMAC) so nobody can make a page show a message it did not
send; read and cleared by the next rendered page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

FLASH_COOKIE = "tollway_flash"
Tone = Literal["info", "success", "warning", "danger"]
_MAX_COOKIE = 3000


@dataclass(frozen=True, slots=True)
class Flash:
    tone: Tone
    message: str


def _sign(key: bytes, payload: bytes) -> str:
    return hmac.new(key, payload, hashlib.sha256).hexdigest()[:32]


def encode(key: bytes, flashes: list[Flash]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps([[f.tone, f.message] for f in flashes]).encode())
    return f"{payload.decode()}.{_sign(key, payload)}"


def decode(key: bytes, raw: str | None) -> list[Flash]:
    """The messages in ``raw``; nothing when the cookie is absent, tampered or malformed."""
    if not raw or "." not in raw:
        return []
    payload, _, mac = raw.rpartition(".")
    if not hmac.compare_digest(mac.encode(), _sign(key, payload.encode()).encode()):
        return []
    try:
        items = json.loads(base64.urlsafe_b64decode(payload.encode()))
        out = [Flash(tone, str(message)) for tone, message in items]
    except (ValueError, TypeError):
        return []
    return [f for f in out if f.tone in ("info", "success", "warning", "danger")]


def add(key: bytes, request: Request, response: Response, tone: Tone, message: str) -> None:
    """Queue ``message`` for the next page this browser renders."""
    pending = [*decode(key, request.cookies.get(FLASH_COOKIE)), Flash(tone, message)]
    value = encode(key, pending)
    while len(value) > _MAX_COOKIE and len(pending) > 1:
        pending = pending[1:]
        value = encode(key, pending)
    response.set_cookie(
        FLASH_COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
