"""OAuth2 bearer tokens the gateway verifies without a database round trip.

Access tokens are JWTs signed with Ed25519 (``alg=EdDSA``), header ``kid`` naming the
signing key, claims ``iss="tollway"``, ``sub`` (client id), ``app`` (application id),
``env``, ``jti`` (token id, for revocation lists), ``iat`` and ``exp``. The verifier pins
the algorithm to EdDSA (``none`` and HMAC confusion are impossible) and returns ``None``
for anything wrong, never raising.

OAuth client credentials: ``client_id`` (``twc_`` + 24 base62) and ``client_secret``
(``tws_`` + 43 base62, ~256 bits). The secret is stored as a SHA-256 hex digest and
compared in constant time; it is random, so a slow KDF would buy nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tollway.security._base62 import random_base62

ISSUER = "tollway"
ALGORITHM = "EdDSA"
CLIENT_ID_PREFIX = "twc_"
CLIENT_SECRET_PREFIX = "tws_"  # noqa: S105 (a format prefix, not a secret)
MAX_TOKEN_LENGTH = 4096
CLOCK_SKEW_S = 60


@dataclass(frozen=True, slots=True)
class SigningKeyPair:
    kid: str
    private_pem: str
    public_pem: str

    def __repr__(self) -> str:
        return f"SigningKeyPair(kid={self.kid!r})"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_at_s: int

    def __repr__(self) -> str:
        return f"IssuedToken(jti={self.jti!r}, expires_at_s={self.expires_at_s})"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    client_id: str
    application_id: str
    environment: str
    jti: str
    issued_at_s: int
    expires_at_s: int
    kid: str


def generate_signing_key() -> SigningKeyPair:
    """A new Ed25519 key pair with a random key id (``kid``)."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return SigningKeyPair(
        kid="k_" + secrets.token_hex(8), private_pem=private_pem, public_pem=public_pem
    )


_private_cache: dict[str, Ed25519PrivateKey] = {}


def _private_key(pem: str) -> Ed25519PrivateKey:
    key = _private_cache.get(pem)
    if key is None:
        loaded = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError("the signing key is not an Ed25519 private key")
        if len(_private_cache) > 64:
            _private_cache.clear()
        _private_cache[pem] = key = loaded
    return key


def issue_access_token(
    key: SigningKeyPair,
    *,
    client_id: str,
    application_id: str,
    environment: str,
    lifetime_s: int,
    now_s: int,
) -> IssuedToken:
    """A signed access token valid from ``now_s`` for ``lifetime_s`` seconds."""
    if lifetime_s <= 0:
        raise ValueError("lifetime_s must be positive")
    jti = "tok_" + secrets.token_urlsafe(16)
    exp = now_s + lifetime_s
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": client_id,
        "app": application_id,
        "env": environment,
        "jti": jti,
        "iat": now_s,
        "exp": exp,
    }
    token = jwt.encode(
        claims, _private_key(key.private_pem), algorithm=ALGORITHM, headers={"kid": key.kid}
    )
    return IssuedToken(token=token, jti=jti, expires_at_s=exp)


class TokenVerifier:
    """Verifies access tokens against a fixed set of public keys (``kid`` -> PEM)."""

    def __init__(self, public_keys: Mapping[str, str], *, clock_skew_s: int = CLOCK_SKEW_S):
        self._keys: dict[str, Ed25519PublicKey] = {}
        for kid, pem in public_keys.items():
            loaded = serialization.load_pem_public_key(pem.encode("ascii"))
            if not isinstance(loaded, Ed25519PublicKey):
                raise ValueError(f"public key {kid!r} is not an Ed25519 key")
            self._keys[kid] = loaded
        self._skew = clock_skew_s

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def verify(self, token: str, now_s: int) -> AccessClaims | None:
        """The claims of a valid, unexpired token signed by a known key; else None."""
        try:
            return self._verify(token, now_s)
        except Exception:
            return None

    def _verify(self, token: str, now_s: int) -> AccessClaims | None:
        # A strict hand-rolled JWS compact check (about twice as fast as PyJWT's decode):
        # exactly three base64url parts, alg pinned to EdDSA, no "crit", known kid,
        # a valid Ed25519 signature, then the claims.
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            return None
        if _TOKEN_RE.match(token) is None:
            return None
        h64, p64, s64 = token.split(".")
        header = json.loads(_b64decode(h64))
        if not isinstance(header, dict) or header.get("alg") != ALGORITHM or "crit" in header:
            return None
        kid = header.get("kid")
        if not isinstance(kid, str):
            return None
        key = self._keys.get(kid)
        if key is None:
            return None
        signature = _b64decode(s64)
        if len(signature) != 64:
            return None
        try:
            key.verify(signature, f"{h64}.{p64}".encode("ascii"))
        except InvalidSignature:
            return None
        claims = json.loads(_b64decode(p64))
        if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
            return None
        sub, app, env, jti = (
            claims.get("sub"),
            claims.get("app"),
            claims.get("env"),
            claims.get("jti"),
        )
        iat, exp = claims.get("iat"), claims.get("exp")
        if not (
            isinstance(sub, str)
            and isinstance(app, str)
            and isinstance(env, str)
            and isinstance(jti, str)
            and sub
            and app
            and env
            and jti
        ):
            return None
        if type(iat) is not int or type(exp) is not int:
            return None
        if now_s >= exp or iat > now_s + self._skew:
            return None
        nbf = claims.get("nbf")
        if nbf is not None and (type(nbf) is not int or nbf > now_s + self._skew):
            return None
        return AccessClaims(
            client_id=sub,
            application_id=app,
            environment=env,
            jti=jti,
            issued_at_s=iat,
            expires_at_s=exp,
            kid=kid,
        )


_TOKEN_RE = re.compile(r"\A[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\Z")


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def generate_client_credentials() -> tuple[str, str]:
    """A new OAuth2 ``(client_id, client_secret)``; store only :func:`hash_client_secret`."""
    return CLIENT_ID_PREFIX + random_base62(24), CLIENT_SECRET_PREFIX + random_base62(43)


def hash_client_secret(secret: str) -> str:
    """Hex SHA-256 of the client secret (the secret is random; see module docstring)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def verify_client_secret(hash: str, secret: str) -> bool:
    """True when ``secret`` hashes to ``hash``, compared in constant time."""
    return hmac.compare_digest(hash_client_secret(secret).encode(), hash.encode())
