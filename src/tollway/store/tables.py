"""The schema, as SQLAlchemy Core tables. Alembic migrations create it; tests may create_all."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from tollway.store.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

ID = 40  # id column width: prefix + "_" + 26-char ULID


def _id(name: str = "id") -> Column[str]:
    return Column(name, String(ID), primary_key=True)


def _fk(name: str, target: str, *, nullable: bool = False, index: bool = True) -> Column[str]:
    return Column(
        name, String(ID), ForeignKey(target, ondelete="CASCADE"), nullable=nullable, index=index
    )


def _created() -> Column[object]:
    return Column("created_at", UTCDateTime(), nullable=False)


organizations = Table(
    "organizations",
    metadata,
    _id(),
    Column("name", String(200), nullable=False),
    Column("slug", String(100), nullable=False, unique=True),
    _created(),
)

users = Table(
    "users",
    metadata,
    _id(),
    _fk("organization_id", "organizations.id"),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(255), nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    _created(),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    _fk("user_id", "users.id"),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("display_prefix", String(20), nullable=False),
    Column("kind", String(20), nullable=False),  # "admin" | "personal" | "session"
    _created(),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
)

apis = Table(
    "apis",
    metadata,
    _id(),
    _fk("organization_id", "organizations.id"),
    Column("name", String(200), nullable=False),
    Column("context", String(100), nullable=False),
    Column("version", String(50), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("lifecycle", String(20), nullable=False),
    Column("usage_header", String(100), nullable=True),
    _created(),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("context", "version", name="uq_apis_context_version"),
)

api_deployments = Table(
    "api_deployments",
    metadata,
    _id(),
    _fk("api_id", "apis.id"),
    Column("environment", String(20), nullable=False),
    Column("upstream_url", String(2000), nullable=False),
    Column("deployed_at", UTCDateTime(), nullable=False),
    UniqueConstraint("api_id", "environment", name="uq_api_deployments_api_env"),
)

api_operations = Table(
    "api_operations",
    metadata,
    _id(),
    _fk("api_id", "apis.id"),
    Column("method", String(10), nullable=False),
    Column("path_template", String(1000), nullable=False),
    Column("operation_ref", String(200), nullable=True),
    Column("summary", String(500), nullable=True),
    UniqueConstraint("api_id", "method", "path_template", name="uq_api_operations_route"),
)

meters = Table(
    "meters",
    metadata,
    _id(),
    _fk("organization_id", "organizations.id"),
    Column("key", String(100), nullable=False),
    Column("definition", JSON, nullable=False),
    _created(),
    UniqueConstraint("organization_id", "key", name="uq_meters_org_key"),
)

plans = Table(
    "plans",
    metadata,
    _id(),
    _fk("organization_id", "organizations.id"),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("currency", String(3), nullable=False),
    Column("billing_interval", String(20), nullable=False),
    # every N intervals (Stripe's interval_count); within Stripe's three years
    Column("billing_interval_count", Integer, nullable=False, default=1, server_default="1"),
    Column("trial_days", Integer, nullable=True),  # Stripe's trial_period_days (1-730)
    Column("rate_limit_count", Integer, nullable=True),
    Column("rate_limit_unit", String(10), nullable=True),
    Column("quota_limit", BigInteger, nullable=True),
    Column("quota_mode", String(10), nullable=False, default="hard"),
    Column("pricing", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    _created(),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("organization_id", "name", name="uq_plans_org_name"),
)

api_plans = Table(
    "api_plans",
    metadata,
    Column("api_id", String(ID), ForeignKey("apis.id", ondelete="CASCADE"), primary_key=True),
    Column("plan_id", String(ID), ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    _created(),
)

applications = Table(
    "applications",
    metadata,
    _id(),
    _fk("owner_id", "users.id"),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("token_lifetime_s", Integer, nullable=False),
    _created(),
    UniqueConstraint("owner_id", "name", name="uq_applications_owner_name"),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    _fk("application_id", "applications.id"),
    Column("environment", String(20), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("display_prefix", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    _created(),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
)

oauth_clients = Table(
    "oauth_clients",
    metadata,
    _id(),
    _fk("application_id", "applications.id"),
    Column("environment", String(20), nullable=False),
    Column("client_id", String(100), nullable=False, unique=True),
    Column("secret_hash", String(128), nullable=False),
    _created(),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_pem_encrypted", Text, nullable=False),
    Column("public_pem", Text, nullable=False),
    _created(),
    Column("retired_at", UTCDateTime(), nullable=True),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", UTCDateTime(), nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    _id(),
    _fk("application_id", "applications.id"),
    _fk("api_id", "apis.id"),
    Column("plan_id", String(ID), ForeignKey("plans.id"), nullable=False, index=True),
    _fk("consumer_id", "users.id"),
    Column("state", String(20), nullable=False),
    Column("billing_anchor", UTCDateTime(), nullable=False),
    _created(),
    Column("updated_at", UTCDateTime(), nullable=False),
)
#: One live subscription per application and API, enforced by the database (a check in
#: code alone races on PostgreSQL's READ COMMITTED).
LIVE_STATES_SQL = "state IN ('on_hold', 'active', 'blocked')"
Index(
    "uq_subscriptions_live_app_api",
    subscriptions.c.application_id,
    subscriptions.c.api_id,
    unique=True,
    sqlite_where=text(LIVE_STATES_SQL),
    postgresql_where=text(LIVE_STATES_SQL),
)

subscription_events = Table(
    "subscription_events",
    metadata,
    _id(),
    _fk("subscription_id", "subscriptions.id"),
    Column("from_state", String(20), nullable=True),
    Column("to_state", String(20), nullable=False),
    Column("cause", String(20), nullable=False),  # user | webhook | admin | system
    Column("actor", String(200), nullable=True),
    Column("reason", Text, nullable=True),
    _created(),
)

#: A consumer's spend cap on a subscription's usage charges per billing period, in the
#: plan's currency (a decimal string, exact); the gateway enforces it (402 past it).
subscription_budgets = Table(
    "subscription_budgets",
    metadata,
    Column(
        "subscription_id",
        String(ID),
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("amount", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("set_by", String(ID), ForeignKey("users.id"), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

#: A plan sold as prepaid credit: consumers buy credit packs, calls burn the balance.
credit_plans = Table(
    "credit_plans",
    metadata,
    Column("plan_id", String(ID), ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True),
    Column("packs", JSON, nullable=False),  # pack amounts offered, decimal strings
    Column("created_at", UTCDateTime(), nullable=False),
)

#: A prepaid subscription's credit account (auto top-up settings, Stripe customer).
credit_accounts = Table(
    "credit_accounts",
    metadata,
    Column(
        "subscription_id",
        String(ID),
        ForeignKey("subscriptions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("currency", String(3), nullable=False),
    Column("auto_topup_below", String(32), nullable=True),  # balance that triggers it
    Column("auto_topup_amount", String(32), nullable=True),
    Column("customer_id", String(255), nullable=True),  # Stripe customer with a saved card
    Column("topups", Integer, nullable=False, default=0),  # counter: idempotency keys
    Column("last_error", Text, nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
)

#: The append-only credit ledger: every movement of a balance, signed, exact. ``reference``
#: (a Checkout session, a PaymentIntent, a usage mark) makes each movement happen once.
credit_entries = Table(
    "credit_entries",
    metadata,
    _id(),
    _fk("subscription_id", "subscriptions.id"),
    Column("kind", String(12), nullable=False),  # purchase | auto_topup | usage | adjustment
    Column("amount", String(32), nullable=False),  # + credit, - usage
    Column("calls_to", BigInteger, nullable=True),  # usage: lifetime calls priced so far
    Column("reference", String(255), nullable=False, unique=True),
    _created(),
)

#: Credit packs on their way through Stripe Checkout (mode=payment).
credit_purchases = Table(
    "credit_purchases",
    metadata,
    Column("session_id", String(255), primary_key=True),
    _fk("subscription_id", "subscriptions.id"),
    Column("amount", String(32), nullable=False),
    Column("status", String(10), nullable=False),  # open | paid | expired
    Column("checkout_url", Text, nullable=False),
    _created(),
)

usage_events = Table(
    "usage_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("organization_id", String(ID), nullable=False),
    Column("api_id", String(ID), nullable=False),
    Column("operation_id", String(ID), nullable=True),
    Column("method", String(10), nullable=False),
    Column("status", Integer, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("request_bytes", BigInteger, nullable=False),
    Column("response_bytes", BigInteger, nullable=False),
    Column("application_id", String(ID), nullable=False),
    Column("subscription_id", String(ID), nullable=False),
    Column("credential_id", String(ID), nullable=False),
    Column("consumer_id", String(ID), nullable=False),
    Column("environment", String(20), nullable=False),
    Column("usage_value", Numeric(38, 12), nullable=True),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Index("ix_usage_events_subscription_time", "subscription_id", "timestamp_ms"),
    Index("ix_usage_events_api_time", "api_id", "timestamp_ms"),
    Index("ix_usage_events_org_time", "organization_id", "timestamp_ms"),
)

config_version = Table(
    "config_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

settings_kv = Table(
    "settings_kv",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("encrypted", Boolean, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

#: An API's published reference: the OpenAPI document it was imported from (as JSON) and
#: its tags (for the portal's catalog filter). One row per API, none for APIs created by
#: hand.
api_documents = Table(
    "api_documents",
    metadata,
    Column("api_id", String(ID), ForeignKey("apis.id", ondelete="CASCADE"), primary_key=True),
    Column("document", Text, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("stored_at", UTCDateTime(), nullable=False),
)
