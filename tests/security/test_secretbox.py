from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tollway.domain.errors import ConfigurationError
from tollway.security.secretbox import SecretBox, generate_key, last4, load_or_create_key


def test_key_created_once_with_0600(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = load_or_create_key(data)
    path = data / "secret.key"
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(data) == key  # second start reuses it


def test_round_trip_and_ciphertext_hides_plaintext(tmp_path: Path) -> None:
    box = SecretBox(load_or_create_key(tmp_path))
    secret = "sk_test_51AbCdEfGhIjKlMnOp"
    token = box.encrypt(secret)
    assert secret not in token
    assert box.encrypt(secret) != token  # random IV
    assert box.decrypt(token) == secret
    assert SecretBox(load_or_create_key(tmp_path)).decrypt(token) == secret


def test_lost_key_is_a_clear_configuration_error(tmp_path: Path) -> None:
    token = SecretBox(load_or_create_key(tmp_path / "a")).encrypt("whsec_abcdef")
    other = SecretBox(load_or_create_key(tmp_path / "b"))
    with pytest.raises(ConfigurationError) as exc:
        other.decrypt(token)
    assert "secret.key" in exc.value.detail
    assert "whsec" not in exc.value.detail


def test_corrupt_token_is_configuration_error() -> None:
    box = SecretBox(generate_key())
    with pytest.raises(ConfigurationError):
        box.decrypt("garbage")
    with pytest.raises(ConfigurationError):
        box.decrypt(box.encrypt("x")[:-2] + "AA")


def test_rotation(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    token = SecretBox(old).encrypt("rk_live_123456789")
    both = SecretBox(new + b"\n" + old)
    assert both.decrypt(token) == "rk_live_123456789"
    rotated = both.rotate(token)
    assert SecretBox(new).decrypt(rotated) == "rk_live_123456789"
    with pytest.raises(ConfigurationError):
        SecretBox(old).decrypt(rotated)
    assert SecretBox([new, old]).decrypt(token) == "rk_live_123456789"
    # file with several lines
    (tmp_path / "secret.key").write_bytes(new + b"\n" + old + b"\n")
    assert SecretBox(load_or_create_key(tmp_path)).decrypt(token) == "rk_live_123456789"


@pytest.mark.parametrize("bad", [b"", b"not a key", b"A" * 44 + b"\nnope"])
def test_bad_key_material(bad: bytes) -> None:
    with pytest.raises(ConfigurationError):
        SecretBox(bad)


def test_bad_key_file(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("   \n")
    with pytest.raises(ConfigurationError, match="empty"):
        load_or_create_key(tmp_path)
    (tmp_path / "secret.key").write_text("hello\n")
    with pytest.raises(ConfigurationError, match="not a valid key"):
        load_or_create_key(tmp_path)


def test_last4() -> None:
    assert last4("sk_test_51AbCdEfGh1234") == "1234"
    assert last4("short") == ""
