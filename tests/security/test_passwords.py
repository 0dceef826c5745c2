from __future__ import annotations

from collections.abc import Iterator

import pytest

from tollway.domain.errors import InvalidInput
from tollway.security import passwords
from tollway.security.passwords import (
    check_password_policy,
    hash_password,
    needs_rehash,
    verify_password,
)


@pytest.fixture
def fast() -> Iterator[None]:
    saved = passwords._hasher
    passwords.use_fast_parameters_for_tests()
    yield
    passwords._hasher = saved


@pytest.fixture
def default_params() -> Iterator[None]:
    saved = passwords._hasher
    passwords.use_default_parameters()
    yield
    passwords._hasher = saved


def test_default_parameters_hash_and_verify(default_params: None) -> None:
    h = hash_password("correct horse battery staple")
    assert h.startswith("$argon2id$")
    assert "m=65536,t=3,p=4" in h
    assert verify_password(h, "correct horse battery staple")
    assert not verify_password(h, "correct horse battery stapl")
    assert not needs_rehash(h)


def test_salted(fast: None) -> None:
    assert hash_password("same password!") != hash_password("same password!")


def test_malformed_hash_is_false_not_error(fast: None) -> None:
    assert not verify_password("not-a-hash", "whatever password")
    assert not verify_password("", "whatever password")
    assert needs_rehash("not-a-hash")


def test_weaker_hash_needs_rehash(fast: None) -> None:
    weak = hash_password("a fine password")
    assert verify_password(weak, "a fine password")
    passwords.use_default_parameters()
    assert needs_rehash(weak)
    assert verify_password(weak, "a fine password")


@pytest.mark.parametrize("pw", ["", "short", "x" * 11, " " * 20, "y" * 1025])
def test_policy_refuses(pw: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_password_policy(pw)
    assert exc.value.errors[0].loc == ("password",)
    assert exc.value.detail.startswith("password: ")


@pytest.mark.parametrize("pw", ["x" * 12, "correct horse battery staple", "ünïcödé pässwörd"])
def test_policy_accepts(pw: str) -> None:
    check_password_policy(pw)
