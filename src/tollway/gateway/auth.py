"""Credential check: API key (configurable header) or OAuth2 bearer access token.

Every failure is the same ``None``: the caller answers 401 with a generic
``WWW-Authenticate`` challenge and no hint of which part was wrong.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from tollway.gateway.snapshot import Credential, Snapshot

QUERY_CREDENTIAL_NAMES = (b"apikey", b"api_key", b"access_token", b"key", b"token")


class _Verifier(Protocol):
    def verify(self, token: str, now_s: int) -> Any: ...


@dataclass(frozen=True, slots=True)
class _TokenEntry:
    client_id: str
    application_id: str
    environment: str
    jti: str
    exp: int


def _make_verifier(public_keys: dict[str, str]) -> _Verifier:
    from tollway.security.tokens import TokenVerifier

    verifier: _Verifier = TokenVerifier(public_keys)
    return verifier


def _well_formed(raw: str) -> bool:
    from tollway.security.apikeys import is_well_formed

    return bool(is_well_formed(raw))


def _hash_key(raw: str) -> str:
    # Same as tollway.security.apikeys.hash_api_key (hex SHA-256 of the UTF-8 bytes).
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class Authenticator:
    """Resolves the credential of a request against the current snapshot."""

    __slots__ = ("_digests", "_snapshot", "_token_cache", "_verifier", "header")

    def __init__(self, header: str = "apikey") -> None:
        self.header = header.lower().encode("latin-1")
        self._snapshot = Snapshot()
        self._verifier: _Verifier | None = None
        self._token_cache: dict[str, _TokenEntry] = {}
        self._digests: dict[bytes, str] = {}

    def use(self, snapshot: Snapshot) -> None:
        if self._verifier is None or dict(snapshot.public_keys) != dict(self._snapshot.public_keys):
            self._verifier = (
                _make_verifier(dict(snapshot.public_keys)) if (snapshot.public_keys) else None
            )
            self._token_cache.clear()
        self._snapshot = snapshot

    def api_key(self, raw: bytes) -> Credential | None:
        digest = self._digests.get(raw)
        if digest is None:
            digest = self._digest(raw)
            if len(self._digests) >= 20_000:  # bounded: random keys cannot grow it
                self._digests.clear()
            self._digests[raw] = digest
        if not digest:
            return None
        # Looked up by the SHA-256 of the secret: timing reveals nothing about the key.
        return self._snapshot.keys.get(digest)

    @staticmethod
    def _digest(raw: bytes) -> str:
        """SHA-256 of a well-formed key, "" for anything malformed. Memoised per process
        (format check and hashing are the costly part of a lookup); the memo lives only in
        memory, like the key itself while a request is handled."""
        try:
            text = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            return ""
        if not text or len(text) > 256 or not _well_formed(text):
            return ""
        return _hash_key(text)

    def bearer(self, token_bytes: bytes, now_s: int) -> Credential | None:
        try:
            token = token_bytes.decode("ascii").strip()
        except UnicodeDecodeError:
            return None
        if not token or len(token) > 4096:
            return None
        entry = self._token_cache.get(token)
        if entry is None:
            if self._verifier is None:
                return None
            try:
                claims = self._verifier.verify(token, now_s)
            except Exception:
                return None
            if claims is None:
                return None
            entry = _TokenEntry(
                str(claims.client_id),
                str(claims.application_id),
                str(claims.environment),
                str(claims.jti),
                int(claims.expires_at_s),
            )
            if len(self._token_cache) > 50_000:
                self._token_cache.clear()
            self._token_cache[token] = entry
        if entry.exp <= now_s:
            self._token_cache.pop(token, None)
            return None
        snap = self._snapshot
        if entry.jti in snap.revoked_jtis:
            return None
        cred = snap.clients.get(entry.client_id)
        if cred is None or cred.application_id != entry.application_id:
            return None
        return cred

    def authenticate(
        self, key_value: bytes | None, authorization: bytes | None, now_s: int
    ) -> Credential | None:
        if key_value is not None:
            if authorization is not None and authorization[:7].lower() == b"bearer ":
                return None  # two credentials: ambiguous, refuse
            return self.api_key(key_value)
        if authorization is not None and authorization[:7].lower() == b"bearer ":
            return self.bearer(authorization[7:], now_s)
        return None


def query_has_credential(query: bytes, header: bytes = b"apikey") -> bool:
    """True when the query string carries something that looks like a credential."""
    if not query:
        return False
    for part in query.split(b"&"):
        name = part.split(b"=", 1)[0].lower()
        if name in QUERY_CREDENTIAL_NAMES or name == header:
            return True
    return False
