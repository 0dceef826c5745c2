"""The control plane cannot be abused: body limits, hostile JSON, malformed webhook
signatures, and failed-login throttling (issue: hardening, items 9-12)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from tollway.api.app import create_app
from tollway.api.body_guard import json_depth_exceeds
from tollway.billing.credentials import StripeCredentials, store_credentials
from tollway.domain.clock import FixedClock
from tollway.runtime import build_context
from tollway.security import passwords
from tollway.security.login_throttle import LoginThrottle, RedisFailureStore
from tollway.settings import load_settings
from tollway.store import users_repo

PASSWORD = "correct horse battery"


@pytest.fixture
def small(tmp_path: Path, database_url: str) -> Iterator[tuple[Any, TestClient]]:
    """A control plane with a 4 KiB body limit, a fixed clock and tight login limits."""
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        control_max_body_bytes=4096,
        login_max_failures_per_account=3,
        login_max_failures_per_address=5,
        login_failure_window_s=60,
    )
    ctx = build_context(settings, migrate=False)
    ctx.clock = FixedClock(datetime(2026, 11, 1, tzinfo=UTC))
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        yield ctx, client
    ctx.engine.dispose()


def _user(ctx: Any, email: str) -> None:
    now = ctx.clock.now()
    with ctx.tx() as conn:
        org = users_repo.ensure_default_org(conn, now)
        users_repo.create_user(
            conn,
            email=email,
            name="U",
            role="consumer",
            password=PASSWORD,
            organization_id=org,
            now=now,
        )


def _login(client: TestClient, email: str, password: str, ip: str = "testclient") -> Any:
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


# ---- item 10: request bodies ------------------------------------------------------


def test_declared_body_over_the_limit_is_413_without_reading_it(small: Any) -> None:
    _, client = small
    r = client.post(
        "/api/v1/auth/login",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": str(10**9)},
    )
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["limit"] == 4096


def test_streamed_body_over_the_limit_is_413(small: Any) -> None:
    _, client = small

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    r = client.post(
        "/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert "larger than 4096 bytes" in r.json()["detail"]


def test_body_within_the_limit_reaches_the_handler(small: Any) -> None:
    ctx, client = small
    _user(ctx, "ok@example.com")
    assert _login(client, "ok@example.com", PASSWORD).status_code == 200


# ---- item 11: hostile JSON --------------------------------------------------------


@pytest.mark.parametrize("depth", [65, 900, 5000])
def test_deeply_nested_json_is_400_not_500(admin: Any, depth: int) -> None:
    body = '{"name": "x", "pricing": ' + "[" * depth + "]" * depth + "}"
    r = admin.post(
        "/api/v1/plans", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 400, r.text
    assert "nested more than 64 levels" in r.json()["detail"]


def test_json_depth_ignores_brackets_inside_strings() -> None:
    assert not json_depth_exceeds(b'{"a": "' + b"[" * 500 + b'"}')
    assert not json_depth_exceeds(b'{"a": "\\"[[[[' + b"[" * 500 + b'"}')
    assert json_depth_exceeds(b"[" * 65)
    assert not json_depth_exceeds(b"[" * 64 + b"]" * 64)


# ---- item 12: webhook signatures ---------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "t={now},v1=é",
        "t={now},v1=" + "é" * 64,
        "t={now},v1=\udcff",
        "t=١٢٣,v1=" + "a" * 64,  # Arabic-Indic digits: int() would accept them
        "t=" + "9" * 40 + ",v1=" + "a" * 64,
        "t={now},v1=zz",
        "t={now},v1=" + ",v1=".join(["a" * 64] * 40),
        "\udcff",
        "t={now}," + "x" * 10_000,
        "",
    ],
)
def test_every_malformed_signature_header_is_400(ctx: Any, http: Any, header: str) -> None:
    now = ctx.clock.now()
    with ctx.tx() as conn:
        org = users_repo.ensure_default_org(conn, now)
        creds = StripeCredentials(
            org, "sk_test_x", "pk_test_x", ("whsec_test",), None, False, "secret"
        )
        store_credentials(conn, ctx.secrets, creds, now)
    raw = header.replace("{now}", str(int(now.timestamp()))).encode("utf-8", "surrogateescape")
    r = http.post(
        "/webhooks/stripe",
        content=b'{"id": "evt_1"}',
        headers=[(b"stripe-signature", raw), (b"content-type", b"application/json")],
    )
    assert r.status_code == 400, r.text


# ---- item 9: login throttling and account enumeration ---------------------------------


def test_failed_logins_per_account_are_throttled_even_with_the_right_password(
    small: Any,
) -> None:
    ctx, client = small
    _user(ctx, "victim@example.com")
    for _ in range(3):
        assert _login(client, "victim@example.com", "wrong password!!").status_code == 401
    r = _login(client, "victim@example.com", PASSWORD)
    assert r.status_code == 429
    assert r.headers["content-type"] == "application/problem+json"
    assert int(r.headers["retry-after"]) == 60
    ctx.clock.advance(30)
    assert int(_login(client, "victim@example.com", PASSWORD).headers["retry-after"]) == 30
    ctx.clock.advance(31)
    assert _login(client, "victim@example.com", PASSWORD).status_code == 200


def test_success_clears_the_account_but_not_the_address(small: Any) -> None:
    ctx, client = small
    _user(ctx, "a@example.com")
    for _ in range(2):
        _login(client, "a@example.com", "wrong password!!")
    assert _login(client, "a@example.com", PASSWORD).status_code == 200
    for _ in range(2):
        assert _login(client, "a@example.com", "wrong password!!").status_code == 401
    # five failures from this address in the window (2 + 2 + 1 below): the address is done
    assert _login(client, "other@example.com", "wrong password!!").status_code == 401
    r = _login(client, "fresh@example.com", "wrong password!!")
    assert r.status_code == 429


def test_unknown_account_costs_one_password_verification(
    small: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, client = small
    _user(ctx, "known@example.com")
    calls: list[str] = []
    real = passwords._hasher

    class Counting:
        def hash(self, pw: str) -> str:
            return real.hash(pw)

        def verify(self, hash: str, pw: str) -> bool:
            calls.append(hash)
            return real.verify(hash, pw)

        def check_needs_rehash(self, hash: str) -> bool:
            return real.check_needs_rehash(hash)

    monkeypatch.setattr(passwords, "_hasher", Counting())
    assert _login(client, "nobody@example.com", "wrong password!!").status_code == 401
    assert _login(client, "known@example.com", "wrong password!!").status_code == 401
    assert len(calls) == 2
    unknown = _login(client, "nobody2@example.com", "x" * 12).json()
    wrong = _login(client, "known@example.com", "x" * 12).json()
    assert unknown["detail"] == wrong["detail"]


def test_redis_throttle_is_shared_between_processes() -> None:
    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_timeout=1).ping()
    except redis.RedisError:
        pytest.fail("Redis must run on 127.0.0.1:6379 for this test")
    email = f"{uuid.uuid4().hex}@example.com"
    one = LoginThrottle(RedisFailureStore(url), per_account=2, per_address=100, window_s=60)
    two = LoginThrottle(RedisFailureStore(url), per_account=2, per_address=100, window_s=60)
    one.failed(email, "10.0.0.1", 1000.0)
    two.failed(email, "10.0.0.2", 1001.0)
    assert one.retry_after(email, "10.0.0.3", 1002.0) == 58
    assert two.retry_after(email, None, 1061.0) is None
    two.succeeded(email)
    assert one.retry_after(email, None, 1002.0) is None
