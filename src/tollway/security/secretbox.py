"""Secrets at rest (Stripe keys, webhook signing secrets): Fernet (AES-128-CBC + HMAC-SHA256).

The key lives in ``<data_dir>/secret.key`` (created with mode 0600 on first start). The
file holds one Fernet key per line; the first line encrypts, every line decrypts, so a key
is rotated by putting a new key on the first line, calling :meth:`SecretBox.rotate` on
every stored token, then removing the old line.

If the key file is lost, every stored secret is unrecoverable: the Stripe keys and the
webhook secret must be entered again (see ``docs/security.md``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from tollway.domain.errors import ConfigurationError

KEY_FILE_NAME = "secret.key"


def generate_key() -> bytes:
    """A new random Fernet key (url-safe base64 of 32 bytes)."""
    return Fernet.generate_key()


def load_or_create_key(data_dir: Path) -> bytes:
    """The key material in ``data_dir/secret.key``, creating the file (0600) if absent.

    Returns the file's content stripped of surrounding whitespace: one key, or several
    keys separated by newlines (the first one encrypts). :class:`SecretBox` accepts both.
    """
    path = Path(data_dir) / KEY_FILE_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigurationError(f"cannot create the encryption key file {path}: {exc}") from exc
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(generate_key() + b"\n")
            f.flush()
            os.fsync(f.fileno())
    try:
        content = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the encryption key file {path}: {exc}") from exc
    if not content:
        raise ConfigurationError(
            f"the encryption key file {path} is empty; restore it from a backup "
            "(or delete it to start over: stored secrets will then have to be re-entered)"
        )
    _parse_keys(content, source=str(path))
    return content


def _parse_keys(material: bytes | str | Sequence[bytes | str], source: str) -> list[Fernet]:
    if isinstance(material, bytes | str):
        raw = material.encode("ascii") if isinstance(material, str) else material
        items: list[bytes] = [line.strip() for line in raw.splitlines() if line.strip()]
    else:
        items = [k.encode("ascii") if isinstance(k, str) else k for k in material]
    if not items:
        raise ConfigurationError(f"no encryption key in {source}")
    fernets: list[Fernet] = []
    for n, item in enumerate(items, start=1):
        try:
            fernets.append(Fernet(item))
        except (ValueError, TypeError):
            raise ConfigurationError(
                f"encryption key {n} in {source} is not a valid key "
                "(expected 32 url-safe base64-encoded bytes, one key per line)"
            ) from None
    return fernets


class SecretBox:
    """Encrypts and decrypts secrets with the configured key(s); the first key encrypts."""

    def __init__(self, key: bytes | str | Sequence[bytes | str]) -> None:
        self._fernet = MultiFernet(_parse_keys(key, source="the configured key material"))

    def encrypt(self, plaintext: str) -> str:
        """An opaque ASCII token holding ``plaintext`` encrypted and authenticated."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plaintext of ``token``; :class:`ConfigurationError` if no key can open it."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise ConfigurationError(
                "a stored secret cannot be decrypted: the encryption key (secret.key) is not "
                "the one it was encrypted with, or the stored value is corrupt. Restore the "
                "original key file, or enter the secret again."
            ) from None

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the first (current) key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError, ValueError):
            raise ConfigurationError(
                "a stored secret cannot be re-encrypted: none of the configured keys opens it"
            ) from None


def last4(secret: str) -> str:
    """The last four characters of ``secret`` for display (empty if it is too short to hide)."""
    return secret[-4:] if len(secret) >= 12 else ""
