"""Building a snapshot from the catalog tables (blocking; run in a worker thread)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, or_, select

from tollway.domain.periods import period_containing
from tollway.gateway.snapshot import (
    Credential,
    Operation,
    OperationMatcher,
    Plan,
    Route,
    Snapshot,
    Subscription,
    Upstream,
    index_subscriptions,
)
from tollway.store import tables as t

log = logging.getLogger("tollway.gateway.config")


def _version(conn: Connection) -> int:
    value = conn.execute(
        select(t.config_version.c.version).where(t.config_version.c.id == 1)
    ).scalar()
    return int(value or 0)


def read_version(engine: Engine) -> int:
    with engine.connect() as conn:
        return _version(conn)


def load_snapshot(engine: Engine, now: datetime | None = None) -> Snapshot:
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        version = _version(conn)
        deployments: dict[str, dict[str, Upstream]] = defaultdict(dict)
        for r1 in conn.execute(
            select(
                t.api_deployments.c.api_id,
                t.api_deployments.c.environment,
                t.api_deployments.c.upstream_url,
            )
        ):
            try:
                deployments[r1.api_id][r1.environment] = Upstream.parse(r1.upstream_url)
            except ValueError:
                log.warning("skipping deployment with a bad upstream", extra={"api": r1.api_id})
        operations: dict[str, list[Operation]] = defaultdict(list)
        for r2 in conn.execute(
            select(
                t.api_operations.c.id,
                t.api_operations.c.api_id,
                t.api_operations.c.method,
                t.api_operations.c.path_template,
            )
        ):
            operations[r2.api_id].append(Operation(r2.id, r2.method, r2.path_template))
        routes: dict[tuple[str, str], Route] = {}
        for r3 in conn.execute(
            select(
                t.apis.c.id,
                t.apis.c.organization_id,
                t.apis.c.context,
                t.apis.c.version,
                t.apis.c.lifecycle,
                t.apis.c.usage_header,
            )
        ):
            routes[(r3.context, r3.version)] = Route(
                api_id=r3.id,
                organization_id=r3.organization_id,
                context=r3.context,
                version=r3.version,
                lifecycle=r3.lifecycle,
                usage_header=r3.usage_header.lower().encode("latin-1") if r3.usage_header else None,
                upstreams=dict(deployments.get(r3.id, {})),
                matcher=OperationMatcher(operations.get(r3.id, [])),
                label=f"{r3.context}/{r3.version}",
            )
        # Credentials of applications whose owner is disabled are left out.
        owners: dict[str, str] = {
            r.id: r.owner_id
            for r in conn.execute(
                select(t.applications.c.id, t.applications.c.owner_id)
                .select_from(
                    t.applications.join(t.users, t.users.c.id == t.applications.c.owner_id)
                )
                .where(t.users.c.disabled.is_(False))
            )
        }
        keys = {
            r.key_hash: Credential(
                r.id, "key", r.application_id, r.environment, owners[r.application_id]
            )
            for r in conn.execute(
                select(
                    t.api_keys.c.id,
                    t.api_keys.c.application_id,
                    t.api_keys.c.environment,
                    t.api_keys.c.key_hash,
                ).where(t.api_keys.c.revoked_at.is_(None))
            )
            if r.application_id in owners
        }
        clients = {
            r.client_id: Credential(
                r.id,
                "oauth",
                r.application_id,
                r.environment,
                owners[r.application_id],
                r.client_id,
            )
            for r in conn.execute(
                select(
                    t.oauth_clients.c.id,
                    t.oauth_clients.c.application_id,
                    t.oauth_clients.c.environment,
                    t.oauth_clients.c.client_id,
                ).where(t.oauth_clients.c.revoked_at.is_(None))
            )
            if r.application_id in owners
        }
        plans = {
            r.id: Plan(
                r.id,
                r.billing_interval,
                r.rate_limit_count,
                r.rate_limit_unit,
                r.quota_limit,
                r.quota_mode or "hard",
            )
            for r in conn.execute(
                select(
                    t.plans.c.id,
                    t.plans.c.billing_interval,
                    t.plans.c.rate_limit_count,
                    t.plans.c.rate_limit_unit,
                    t.plans.c.quota_limit,
                    t.plans.c.quota_mode,
                )
            )
        }
        # Columns named as Subscription's fields.
        subs = [
            Subscription(**r._mapping)
            for r in conn.execute(
                select(
                    t.subscriptions.c.id,
                    t.subscriptions.c.application_id,
                    t.subscriptions.c.api_id,
                    t.subscriptions.c.plan_id,
                    t.subscriptions.c.consumer_id,
                    t.subscriptions.c.state,
                    t.subscriptions.c.billing_anchor,
                ).order_by(t.subscriptions.c.created_at)
            )
        ]
        public_keys = {
            r9.kid: r9.public_pem
            for r9 in conn.execute(
                select(t.signing_keys.c.kid, t.signing_keys.c.public_pem).where(
                    or_(t.signing_keys.c.retired_at.is_(None), t.signing_keys.c.retired_at > now)
                )
            )
        }
        revoked = frozenset(
            r10.jti
            for r10 in conn.execute(
                select(t.revoked_tokens.c.jti).where(t.revoked_tokens.c.expires_at > now)
            )
        )
        quota_used: dict[tuple[str, int], int] = {}
        for sub in subs:
            plan = plans.get(sub.plan_id)
            if sub.state != "active" or plan is None or plan.hard_quota is None:
                continue
            period = period_containing(sub.billing_anchor, plan.billing_interval, now)
            start_s = int(period.start.timestamp())
            used = conn.execute(
                select(func.count())
                .select_from(t.usage_events)
                .where(t.usage_events.c.subscription_id == sub.id)
                .where(t.usage_events.c.timestamp_ms >= start_s * 1000)
                .where(t.usage_events.c.timestamp_ms < int(period.end.timestamp()) * 1000)
            ).scalar()
            quota_used[(sub.id, start_s)] = int(used or 0)
    return Snapshot(
        version=version,
        routes=routes,
        keys=keys,
        clients=clients,
        subscriptions=index_subscriptions(subs),
        plans=plans,
        public_keys=public_keys,
        revoked_jtis=revoked,
        quota_used=quota_used,
    )
