"""Configuration: ``TOLLWAY_*`` environment variables over an optional TOML file over defaults.

Validated once at start; a bad value is a ``ConfigurationError`` that names the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tollway.domain.errors import ConfigurationError

ENV_PREFIX = "TOLLWAY_"


class Settings(BaseSettings):
    """Every setting, its default and its meaning (the README's configuration table)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    data_dir: Path = Field(Path(".tollway"), description="Data directory (SQLite, keys, spool)")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data_dir")
    redis_url: str | None = Field(None, description="Redis for shared limits and fan-out")
    host: str = Field("127.0.0.1", description="Control plane bind address")
    port: int = Field(8000, ge=1, le=65535, description="Control plane port")
    public_url: str | None = Field(None, description="Base URL users reach the control plane at")
    gateway_host: str = Field("127.0.0.1", description="Gateway bind address")
    gateway_port: int = Field(8080, ge=1, le=65535, description="Gateway port")
    gateway_admin_port: int = Field(9090, ge=1, le=65535, description="Gateway /metrics port")
    gateway_url: str | None = Field(None, description="Base URL consumers call the gateway at")
    gateway_workers: int = Field(
        1, ge=1, le=64, description="Gateway processes (`tollway gateway`), restarted if they die"
    )
    gateway_max_connections: int = Field(
        0, ge=0, description="Client connections per gateway process; 0 = from the open-files limit"
    )
    gateway_header_timeout_s: float = Field(
        10.0, gt=0, description="Time a client has to send a request head (then 408)"
    )
    gateway_body_timeout_s: float = Field(
        30.0, gt=0, description="Longest pause while a request body arrives (then 408)"
    )
    gateway_spool_min_free_bytes: int = Field(
        16 * 1024 * 1024,
        ge=0,
        description="Free disk the usage spool needs; below it the gateway answers 503",
    )
    api_key_header: str = Field("apikey", description="Header carrying API keys")
    upstream_timeout_s: float = Field(30.0, gt=0, description="Upstream response timeout")
    max_body_bytes: int = Field(100 * 1024 * 1024, gt=0, description="Request body limit")
    rate_limit_failure_mode: Literal["open", "closed"] = Field(
        "open", description="When Redis is down: admit and meter (open) or 503 (closed)"
    )
    secret_key: str | None = Field(
        None, description="Key for secrets at rest; default: generated into data_dir/secret.key"
    )
    ssrf_allow: list[str] = Field(
        default_factory=list, description="CIDRs/hosts exempt from the SSRF guard (on-premise)"
    )
    openapi_max_bytes: int = Field(5 * 1024 * 1024, gt=0, description="OpenAPI document limit")
    control_max_body_bytes: int = Field(
        8 * 1024 * 1024, gt=0, description="Control-plane request body limit (then 413)"
    )
    login_max_failures_per_account: int = Field(
        10, gt=0, description="Failed logins per account per window (then 429)"
    )
    login_max_failures_per_address: int = Field(
        50, gt=0, description="Failed logins per client address per window (then 429)"
    )
    login_failure_window_s: int = Field(900, gt=0, description="Failed-login counting window")
    fetch_timeout_s: float = Field(10.0, gt=0, description="Timeout of outbound fetches")
    token_lifetime_s: int = Field(3600, gt=0, description="Default access token lifetime")
    session_lifetime_s: int = Field(8 * 3600, gt=0, description="Portal session lifetime")
    stripe_api_base: str | None = Field(None, description="Stripe API base (the emulator)")
    usage_sync_interval_s: float = Field(60.0, gt=0, description="Usage push interval")
    cancel_fence_timeout_s: float = Field(
        35.0,
        gt=0,
        description="How long a cancel waits for every gateway to stop admitting the "
        "subscription and put its calls in the ledger (then the final usage is pushed)",
    )
    stripe_meter_lag_s: float = Field(
        300.0,
        ge=0,
        description="Time Stripe may take to count an accepted meter event; younger pushes "
        "are reported as pending, not as differences",
    )
    past_due_grace_s: int = Field(3 * 86400, ge=0, description="Access kept while past_due")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")
    brand_name: str = Field(
        "Tollway", min_length=1, max_length=60, description="Name in page headers"
    )
    brand_logo_url: str | None = Field(None, description="Header logo: https:// URL or local path")
    brand_color: str = Field("#2f5bd3", description="Brand colour #rrggbb (kept readable)")
    style_guide: bool = Field(False, description="Serve the page style guide at /_style")
    smtp_host: str | None = Field(None, description="SMTP server for email; none: email is off")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port")
    smtp_username: str | None = Field(None, description="SMTP user (AUTH when set)")
    smtp_password: SecretStr | None = Field(None, description="SMTP password")
    smtp_starttls: bool = Field(True, description="Require STARTTLS before AUTH and sending")
    smtp_from: str | None = Field(None, description="Sender, e.g. 'Acme APIs <apis@acme.test>'")
    smtp_timeout_s: float = Field(10.0, gt=0, description="SMTP connect/command timeout")

    @field_validator("api_key_header")
    @classmethod
    def _header_token(cls, value: str) -> str:
        if not value or any(not (c.isalnum() or c in "-_") for c in value):
            raise ValueError("must be a header name (letters, digits, '-' and '_')")
        return value.lower()

    @field_validator("brand_color")
    @classmethod
    def _hex_color(cls, value: str) -> str:
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
            raise ValueError("must be a colour written #rrggbb, e.g. #2f5bd3")
        return value.lower()

    @field_validator("brand_logo_url")
    @classmethod
    def _logo_url(cls, value: str | None) -> str | None:
        if value is None or (
            value.startswith("/") and not value.startswith("//") and "\\" not in value
        ):
            return value
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.netloc and not any(c in value for c in "\"'<> "):
            return value
        raise ValueError("must be an https:// URL or a path on this server starting with /")

    @field_validator("smtp_from")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is not None and "@" not in parseaddr(value)[1]:
            raise ValueError("must be an email address, optionally with a name: 'Name <a@b.c>'")
        return value

    @model_validator(mode="after")
    def _smtp_complete(self) -> Settings:
        if self.smtp_host and not self.smtp_from:
            raise ValueError("smtp_from is required when smtp_host is set")
        if self.smtp_password is not None and not self.smtp_username:
            raise ValueError("smtp_username is required when smtp_password is set")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tollway.db').resolve()}"

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def resolved_gateway_url(self) -> str:
        return (self.gateway_url or f"http://{self.gateway_host}:{self.gateway_port}").rstrip("/")


def _format(exc: ValidationError, source: dict[str, Any]) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "settings"
        env_name = ENV_PREFIX + key.split(".")[0].upper()
        origin = "config file" if key.split(".")[0] in source else env_name
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown setting '{key}' ({origin})")
        else:
            lines.append(f"{key} ({origin}): {err['msg']}")
    return "invalid configuration: " + "; ".join(lines)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Defaults < TOML file (``--config`` or ``TOLLWAY_CONFIG``) < environment < overrides."""
    path = config_file or (
        Path(os.environ["TOLLWAY_CONFIG"]) if "TOLLWAY_CONFIG" in os.environ else None
    )
    file_values: dict[str, Any] = {}
    if path is not None:
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigurationError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"config file {path} is not valid TOML: {exc}") from exc
        file_values = file_values.get("tollway", file_values)
    env_keys = {
        k[len(ENV_PREFIX) :].lower()
        for k in os.environ
        if k.startswith(ENV_PREFIX) and k != "TOLLWAY_CONFIG" and not k.startswith("TOLLWAY_TEST_")
    }
    known = set(Settings.model_fields)
    unknown_env = sorted(env_keys - known)
    if unknown_env:
        names = ", ".join(ENV_PREFIX + k.upper() for k in unknown_env)
        raise ConfigurationError(f"invalid configuration: unknown environment setting {names}")
    values = {k: v for k, v in file_values.items() if k not in env_keys}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigurationError(_format(exc, file_values)) from None
