from __future__ import annotations

import hashlib
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tollway.security import apikeys
from tollway.security._base62 import ALPHABET
from tollway.security.apikeys import (
    environment_of,
    generate_api_key,
    hash_api_key,
    is_well_formed,
)


@pytest.mark.parametrize(("env", "tag"), [("production", "tw_prod_"), ("development", "tw_dev_")])
def test_generated_key_has_prefix_checksum_and_hash(env: str, tag: str) -> None:
    key = generate_api_key(env)  # type: ignore[arg-type]
    assert key.raw.startswith(tag)
    assert is_well_formed(key.raw)
    assert environment_of(key.raw) == env
    assert key.hash == hashlib.sha256(key.raw.encode()).hexdigest()
    assert key.hash == hash_api_key(key.raw)
    assert key.raw.startswith(key.display_prefix)
    assert len(key.display_prefix) == 12
    assert key.raw not in repr(key)


def test_randomness_is_at_least_190_bits() -> None:
    assert apikeys.RANDOM_LENGTH * math.log2(62) >= 190
    keys = {generate_api_key("production").raw for _ in range(200)}
    assert len(keys) == 200


def test_unknown_environment_refused() -> None:
    with pytest.raises(ValueError):
        generate_api_key("staging")  # type: ignore[arg-type]


def _flip(raw: str, i: int) -> str:
    c = raw[i]
    repl = ALPHABET[(ALPHABET.index(c) + 1) % 62]
    return raw[:i] + repl + raw[i + 1 :]


def test_any_single_character_change_in_body_is_refused() -> None:
    raw = generate_api_key("development").raw
    start = len("tw_dev_")
    for i in range(start, len(raw)):
        assert not is_well_formed(_flip(raw, i)), i


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "tw_prod_",
        "tw_test_" + "A" * 39,
        "TW_prod_" + "A" * 39,
        "sk_live_abc",
        "tw_prod_" + "A" * 38,
        "tw_prod_" + "A" * 40,
        "tw_prod_" + "A" * 38 + "!",
        "tw_prod_" + "é" * 39,
    ],
)
def test_malformed_keys_refused(bad: str) -> None:
    assert not is_well_formed(bad)
    assert environment_of(bad) is None


def test_truncated_and_swapped_env_refused() -> None:
    raw = generate_api_key("production").raw
    assert not is_well_formed(raw[:-1])
    assert not is_well_formed(raw + "0")
    # same body under the other environment tag: the checksum covers the prefix
    assert not is_well_formed("tw_dev_" + raw[len("tw_prod_") :])
    assert not is_well_formed(" " + raw)
    assert not is_well_formed(raw + "\n")


@given(st.text(max_size=60))
def test_random_text_is_never_well_formed_unless_checksum_matches(s: str) -> None:
    if is_well_formed(s):  # astronomically unlikely; if it happens it must be consistent
        assert environment_of(s) is not None
    else:
        assert environment_of(s) is None


def test_looks_like_api_key() -> None:
    assert apikeys.looks_like_api_key(generate_api_key("development").raw)
    assert apikeys.looks_like_api_key("tw_prod_garbage")
    assert not apikeys.looks_like_api_key("eyJhbGciOiJFZERTQSJ9.x.y")
