"""Settings errors name the bad key; ``tollway admin create-token`` prints a working token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tollway.domain.errors import ConfigurationError
from tollway.settings import load_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith("TOLLWAY_") and not key.startswith("TOLLWAY_TEST_"):
            monkeypatch.delenv(key)
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "value", "names"),
    [
        ("TOLLWAY_PORT", "eighty", ("port", "TOLLWAY_PORT")),
        ("TOLLWAY_PORT", "70000", ("port",)),
        ("TOLLWAY_RATE_LIMIT_FAILURE_MODE", "maybe", ("rate_limit_failure_mode",)),
        ("TOLLWAY_API_KEY_HEADER", "bad header!", ("api_key_header",)),
        ("TOLLWAY_UPSTREAM_TIMEOUT_S", "-1", ("upstream_timeout_s",)),
        ("TOLLWAY_NO_SUCH_THING", "1", ("TOLLWAY_NO_SUCH_THING",)),
    ],
)
def test_env_errors_name_the_key(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, env: str, value: str, names: tuple[str, ...]
) -> None:
    clean_env.setenv(env, value)
    with pytest.raises(ConfigurationError) as info:
        load_settings(data_dir=tmp_path)
    for name in names:
        assert name in str(info.value)


def test_toml_errors_name_the_key(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "tollway.toml"
    cfg.write_text('port = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        load_settings(cfg)
    assert "port" in str(info.value) and "config file" in str(info.value)
    cfg.write_text("[tollway]\nlog_levl = 'INFO'\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="log_levl"):
        load_settings(cfg)
    cfg.write_text("port = \n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="TOML"):
        load_settings(cfg)
    with pytest.raises(ConfigurationError, match="not found"):
        load_settings(tmp_path / "missing.toml")


def test_precedence_file_env_override(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "tollway.toml"
    cfg.write_text("[tollway]\nport = 9001\ngateway_port = 9002\n", encoding="utf-8")
    clean_env.setenv("TOLLWAY_CONFIG", str(cfg))
    clean_env.setenv("TOLLWAY_GATEWAY_PORT", "9003")
    s = load_settings(data_dir=tmp_path)
    assert (s.port, s.gateway_port) == (9001, 9003)
    assert load_settings(data_dir=tmp_path, port=9004).port == 9004


def test_cli_create_token_prints_a_working_token(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from tollway.control_plane import create_app
    from tollway.runtime import build_context

    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    cmd = [sys.executable, "-m", "tollway.cli", "admin", "create-token", "--data-dir", str(data)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("twt_")
    assert token not in (data / "tollway.db").read_bytes().decode("latin-1")
    ctx: Any = build_context(load_settings(data_dir=data), migrate=False)
    try:
        with TestClient(create_app(ctx)) as client:
            r = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and r.json()["role"] == "admin"
            assert (
                client.get(
                    "/api/v1/users", headers={"Authorization": f"Bearer {token}"}
                ).status_code
                == 200
            )
            bad = token[:-1] + ("A" if token[-1] != "A" else "B")
            r = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {bad}"})
            assert r.status_code == 401
    finally:
        ctx.engine.dispose()
