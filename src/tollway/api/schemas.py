"""Request and response bodies of the control-plane API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from tollway.domain.paging import Page

Role = Literal["admin", "publisher", "consumer"]
Environment = Literal["development", "production"]
LifecycleName = Literal["created", "published", "deprecated", "retired", "blocked"]
Interval = Literal["day", "week", "month", "quarter", "half_year", "year"]
RateUnit = Literal["second", "minute", "hour", "day"]
SubStateName = Literal["on_hold", "active", "blocked", "cancelled", "expired"]
T = TypeVar("T")

NAME = Field(min_length=1, max_length=200)
SLUG = r"^[a-z0-9][a-z0-9-]{0,99}$"


def has_nul(value: object) -> bool:
    """True if a string anywhere in ``value`` holds a NUL character (PostgreSQL refuses them)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


class In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        if has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageOut(Out, Generic[T]):
    data: list[T]
    has_more: bool
    next_cursor: str | None

    @classmethod
    def of(cls, page: Page, data: list[T]) -> Self:
        """``data`` (the page's items, converted) with the page's cursor."""
        return cls(data=data, has_more=page.has_more, next_cursor=page.next_cursor)


# -- users, organizations, tokens -------------------------------------------------------


class SignupIn(In):
    email: EmailStr
    name: str = NAME
    password: str = Field(min_length=1, max_length=1024)


class LoginIn(In):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)


class UserCreateIn(SignupIn):
    role: Role
    organization_id: str | None = Field(None, max_length=64)


class UserOut(Out):
    id: str
    email: str
    name: str
    role: Role
    organization_id: str
    created_at: datetime


class SessionOut(Out):
    token: str
    expires_at: datetime | None
    user: UserOut


class TokenCreateIn(In):
    name: str = NAME
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class TokenOut(Out):
    id: str
    name: str
    token: str = Field(description="Shown once; only a hash is stored")
    expires_at: datetime | None


class OrganizationIn(In):
    name: str = NAME
    slug: str = Field(pattern=SLUG)


class OrganizationOut(Out):
    id: str
    name: str
    slug: str
    created_at: datetime


# -- APIs ---------------------------------------------------------------------------------


class ApiCreateIn(In):
    name: str = NAME
    context: str = Field(pattern=SLUG, description="First path segment at the gateway")
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")
    description: str = Field("", max_length=10_000)
    usage_header: str | None = Field(
        None, pattern=r"^[A-Za-z0-9-]{1,100}$", description="Upstream response header with usage"
    )


class ApiUpdateIn(In):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    usage_header: str | None = Field(None, pattern=r"^[A-Za-z0-9-]{1,100}$")


class ApiImportUrlIn(In):
    url: str = Field(min_length=1, max_length=2000)
    context: str | None = Field(None, pattern=SLUG)
    name: str | None = Field(None, min_length=1, max_length=200)


class DeploymentIn(In):
    upstream_url: str = Field(min_length=1, max_length=2000)


class DeploymentOut(Out):
    environment: Environment
    upstream_url: str
    deployed_at: datetime


class OperationOut(Out):
    id: str
    method: str
    path_template: str
    operation_ref: str | None
    summary: str | None


class ApiOut(Out):
    id: str
    organization_id: str
    name: str
    context: str
    version: str
    description: str
    lifecycle: LifecycleName
    usage_header: str | None
    created_at: datetime
    updated_at: datetime
    deployments: list[DeploymentOut] = []
    operation_count: int = 0


class ApiImportOut(ApiOut):
    operations: list[OperationOut]


class LifecycleIn(In):
    state: LifecycleName


class ApiPlanIn(In):
    enabled: bool


class ApiPlanOut(Out):
    api_id: str
    plan_id: str
    enabled: bool


# -- plans and meters -----------------------------------------------------------------------


class RateLimitIn(In):
    count: int = Field(ge=1, le=10**9)
    per: RateUnit


class QuotaIn(In):
    limit: int = Field(ge=0, le=10**15)
    mode: Literal["hard", "overage"] = "hard"


class PlanCreateIn(In):
    name: str = NAME
    description: str = Field("", max_length=10_000)
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code")
    billing_interval: Interval = "month"
    billing_interval_count: int = Field(
        1, ge=1, le=1095, description="Every N intervals (Stripe's interval_count), at most 3 years"
    )
    trial_days: int | None = Field(
        None, ge=1, le=730, description="Free trial of a paid plan: calls metered, billed $0"
    )
    rate_limit: RateLimitIn | None = None
    quota: QuotaIn | None = None
    pricing: dict[str, Any] = Field(default_factory=dict, description="Pricing spec, see docs")


class PlanUpdateIn(In):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    rate_limit: RateLimitIn | None = None
    quota: QuotaIn | None = None
    pricing: dict[str, Any] | None = None


class RateLimitOut(Out):
    count: int
    per: RateUnit


class QuotaOut(Out):
    limit: int
    mode: Literal["hard", "overage"]


class PlanOut(Out):
    id: str
    organization_id: str
    name: str
    description: str
    currency: str
    billing_interval: Interval
    billing_interval_count: int = 1
    trial_days: int | None = None
    rate_limit: RateLimitOut | None
    quota: QuotaOut | None
    pricing: dict[str, Any]
    free: bool
    status: Literal["active", "retired"]
    created_at: datetime
    updated_at: datetime


class MeterIn(In):
    definition: dict[str, Any]


class MeterOut(Out):
    id: str
    key: str
    definition: dict[str, Any]
    created_at: datetime


# -- applications, credentials, subscriptions --------------------------------------------------


class ApplicationIn(In):
    name: str = NAME
    description: str = Field("", max_length=10_000)
    # None: the settings' default access-token lifetime (filled in by the route).
    token_lifetime_s: int | None = Field(None, ge=60, le=31_536_000)


class ApplicationUpdateIn(In):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    token_lifetime_s: int | None = Field(None, ge=60, le=31_536_000)


class ApplicationOut(Out):
    id: str
    owner_id: str
    name: str
    description: str
    token_lifetime_s: int
    created_at: datetime


class ApiKeyIn(In):
    environment: Environment = "production"
    name: str = Field("default", min_length=1, max_length=200)


class ApiKeyOut(Out):
    id: str
    application_id: str
    environment: Environment
    name: str
    display_prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="Shown once; only a hash is stored")


class OAuthClientIn(In):
    environment: Environment = "production"


class OAuthClientOut(Out):
    id: str
    application_id: str
    environment: Environment
    client_id: str
    created_at: datetime
    revoked_at: datetime | None


class OAuthClientCreatedOut(OAuthClientOut):
    client_secret: str = Field(description="Shown once; only a hash is stored")


class SubscriptionIn(In):
    application_id: str = Field(min_length=1, max_length=64)
    api_id: str = Field(min_length=1, max_length=64)
    plan_id: str = Field(min_length=1, max_length=64)


class SubscriptionOut(Out):
    id: str
    application_id: str
    api_id: str
    plan_id: str
    consumer_id: str
    state: SubStateName
    billing_anchor: datetime
    created_at: datetime
    updated_at: datetime
    checkout_url: str | None = None
    plan_version: int | None = Field(None, description="The plan version it is billed on")
    plan_version_next: int | None = Field(None, description="The version it moves to at renewal")
    plan_version_label: str | None = Field(
        None, examples=["v2", "v1 (grandfathered)", "v1 → v2 at renewal on 2026-12-28"]
    )


class ReasonIn(In):
    reason: str | None = Field(None, max_length=1000)


class SubscriptionEventOut(Out):
    id: str
    from_state: SubStateName | None
    to_state: SubStateName
    cause: Literal["user", "webhook", "admin", "system"]
    actor: str | None
    reason: str | None
    created_at: datetime
