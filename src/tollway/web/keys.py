"""Keys for the pages (CSRF tokens, signed flash cookies), derived from the secret key.

They come from the same key material as the secret box (``TOLLWAY_SECRET_KEY`` or
``DATA_DIR/secret.key``), through HKDF with a purpose label, so every process of one
installation derives the same keys and no new secret has to be managed.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tollway.security.secretbox import load_or_create_key
from tollway.settings import Settings


def key_material(settings: Settings) -> bytes:
    """The installation's secret key material (the first key of the secret box)."""
    raw = (
        settings.secret_key.encode()
        if settings.secret_key
        else load_or_create_key(settings.data_dir)
    )
    return raw.strip().splitlines()[0].strip()


def derive_key(material: bytes, purpose: str) -> bytes:
    """A 32-byte key for one ``purpose`` (e.g. ``"csrf"``), independent of the others."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"tollway.web." + purpose.encode()
    )
    return hkdf.derive(material)
