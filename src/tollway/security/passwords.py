"""User passwords: argon2id (RFC 9106) through argon2-cffi.

Parameters are argon2-cffi's defaults, the RFC 9106 "low memory" profile: time cost 3,
64 MiB, parallelism 4, 16-byte salt, 32-byte hash (~50-100 ms per hash on a server core).
Hashes are self-describing (``$argon2id$v=19$m=65536,t=3,p=4$...``), so parameters can be
raised later and :func:`needs_rehash` tells the login code to upgrade a stored hash.

Tests may call :func:`use_fast_parameters_for_tests` to make hashing cheap; it must never
be called in production code.
"""

from __future__ import annotations

import secrets

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tollway.domain.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

_DEFAULT_HASHER = argon2.PasswordHasher(type=argon2.Type.ID)
_hasher: argon2.PasswordHasher = _DEFAULT_HASHER


def hash_password(pw: str) -> str:
    """An argon2id hash string of ``pw`` with a fresh random salt."""
    return _hasher.hash(pw)


def verify_password(hash: str, pw: str) -> bool:
    """True when ``pw`` matches ``hash``; False for a mismatch or a malformed hash."""
    try:
        return _hasher.verify(hash, pw)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_dummy_hashes: dict[int, str] = {}


def verify_against_nothing(pw: str) -> bool:
    """Spend the time of one real verification and return False: called when there is
    no account (or no password) to check, so that an unknown email answers as slowly as
    a wrong password and response times do not reveal which accounts exist."""
    dummy = _dummy_hashes.get(id(_hasher))
    if dummy is None:
        dummy = _dummy_hashes.setdefault(id(_hasher), _hasher.hash(secrets.token_urlsafe(16)))
    verify_password(dummy, pw)
    return False


def needs_rehash(hash: str) -> bool:
    """True when ``hash`` was made with other parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(hash)
    except (InvalidHashError, ValueError):
        return True


def check_password_policy(pw: str) -> None:
    """Raise :class:`InvalidInput` at ``password`` when ``pw`` is unacceptable.

    The policy follows NIST SP 800-63B: a minimum length, no composition rules, and a
    generous maximum (argon2 handles long inputs, the cap only bounds request sizes).
    """
    if len(pw) < MIN_PASSWORD_LENGTH:
        raise InvalidInput.at(
            ("password",), f"must be at least {MIN_PASSWORD_LENGTH} characters long"
        )
    if len(pw) > MAX_PASSWORD_LENGTH:
        raise InvalidInput.at(("password",), f"must be at most {MAX_PASSWORD_LENGTH} characters")
    if pw.strip() == "":
        raise InvalidInput.at(("password",), "must not be only whitespace")


def use_fast_parameters_for_tests() -> None:
    """Switch to cheap argon2id parameters (t=1, 8 MiB, p=1). Tests only."""
    global _hasher
    _hasher = argon2.PasswordHasher(
        time_cost=1, memory_cost=8 * 1024, parallelism=1, type=argon2.Type.ID
    )


def use_default_parameters() -> None:
    """Undo :func:`use_fast_parameters_for_tests`."""
    global _hasher
    _hasher = _DEFAULT_HASHER
