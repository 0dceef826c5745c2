"""CSRF protection for HTML forms and htmx requests.

A browser gets a random ``tollway_csrf`` cookie (HttpOnly, SameSite=Strict) the first
time a page is rendered for it. The token a page embeds is
``HMAC(key, cookie | session cookie)``: it is bound to that browser and, once signed
in, to the session, so a token from another session or from before sign-in is refused.
Forms carry it in the hidden field ``csrf_token``; htmx sends it in the ``X-CSRF-Token``
header (set once on ``<body hx-headers=…>`` by the base layout).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request

CSRF_COOKIE = "tollway_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SEED_BYTES = 32


class CsrfRefused(Exception):
    """The request's token is missing or does not match (shown as a 403 page)."""


def new_seed() -> str:
    return secrets.token_urlsafe(_SEED_BYTES)


def token_for(key: bytes, seed: str, session: str | None) -> str:
    message = f"{seed}|{session or ''}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify(key: bytes, request: Request, session_cookie: str, submitted: str | None) -> None:
    """Raise :class:`CsrfRefused` unless ``submitted`` is this browser's current token."""
    seed = request.cookies.get(CSRF_COOKIE)
    if not seed or not submitted:
        raise CsrfRefused("missing CSRF token")
    expected = token_for(key, seed, request.cookies.get(session_cookie))
    if not hmac.compare_digest(expected.encode(), submitted.encode("utf-8", "replace")):
        raise CsrfRefused("CSRF token does not match")
