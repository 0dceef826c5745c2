"""Building a snapshot from the catalog tables (blocking; run in a worker thread).

One loader per entity, each a single query; ``load_snapshot`` runs them in one
connection and assembles the immutable ``Snapshot``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, func, or_, select

from tollway.domain.errors import TollwayError
from tollway.domain.money import minor_unit
from tollway.gateway.ratelimit import PeriodCache, call_cap, gcra_params, rebuilt_tat
from tollway.gateway.snapshot import (
    Budget,
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
from tollway.gateway.snapshot_versions import pin_versions
from tollway.pricing.spec import parse_pricing
from tollway.pricing.spend import SpendRater, affordable_units
from tollway.store import credits_repo, fence_repo, ledger
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


def load_upstreams(conn: Connection) -> dict[str, dict[str, Upstream]]:
    """API id -> environment -> upstream; deployments with a bad URL are skipped."""
    deployments: dict[str, dict[str, Upstream]] = defaultdict(dict)
    d = t.api_deployments.c
    for row in conn.execute(select(d.api_id, d.environment, d.upstream_url)):
        try:
            deployments[row.api_id][row.environment] = Upstream.parse(row.upstream_url)
        except ValueError:
            log.warning("skipping deployment with a bad upstream", extra={"api": row.api_id})
    return deployments


def load_operations(conn: Connection) -> dict[str, list[Operation]]:
    operations: dict[str, list[Operation]] = defaultdict(list)
    o = t.api_operations.c
    for row in conn.execute(select(o.id, o.api_id, o.method, o.path_template)):
        operations[row.api_id].append(Operation(row.id, row.method, row.path_template))
    return operations


def load_routes(
    conn: Connection,
    upstreams: Mapping[str, Mapping[str, Upstream]],
    operations: Mapping[str, list[Operation]],
) -> dict[tuple[str, str], Route]:
    a = t.apis.c
    routes: dict[tuple[str, str], Route] = {}
    for row in conn.execute(
        select(a.id, a.organization_id, a.context, a.version, a.lifecycle, a.usage_header)
    ):
        routes[(row.context, row.version)] = Route(
            api_id=row.id,
            organization_id=row.organization_id,
            context=row.context,
            version=row.version,
            lifecycle=row.lifecycle,
            usage_header=row.usage_header.lower().encode("latin-1") if row.usage_header else None,
            upstreams=dict(upstreams.get(row.id, {})),
            matcher=OperationMatcher(operations.get(row.id, [])),
            label=f"{row.context}/{row.version}",
        )
    return routes


def load_owners(conn: Connection) -> dict[str, str]:
    """Application id -> owner id, for owners that are not disabled (the credentials of
    other applications are left out of the snapshot)."""
    apps = t.applications
    return {
        row.id: row.owner_id
        for row in conn.execute(
            select(apps.c.id, apps.c.owner_id)
            .select_from(apps.join(t.users, t.users.c.id == apps.c.owner_id))
            .where(t.users.c.disabled.is_(False))
        )
    }


def load_keys(conn: Connection, owners: Mapping[str, str]) -> dict[str, Credential]:
    """Key hash -> credential, for keys not revoked."""
    k = t.api_keys.c
    return {
        row.key_hash: Credential(
            row.id, "key", row.application_id, row.environment, owners[row.application_id]
        )
        for row in conn.execute(
            select(k.id, k.application_id, k.environment, k.key_hash).where(k.revoked_at.is_(None))
        )
        if row.application_id in owners
    }


def load_clients(conn: Connection, owners: Mapping[str, str]) -> dict[str, Credential]:
    """OAuth client id -> credential, for clients not revoked."""
    c = t.oauth_clients.c
    return {
        row.client_id: Credential(
            row.id,
            "oauth",
            row.application_id,
            row.environment,
            owners[row.application_id],
            row.client_id,
        )
        for row in conn.execute(
            select(c.id, c.application_id, c.environment, c.client_id).where(c.revoked_at.is_(None))
        )
        if row.application_id in owners
    }


def load_plans(conn: Connection) -> dict[str, Plan]:
    p = t.plans.c
    return {
        row.id: Plan(
            row.id,
            row.billing_interval,
            row.rate_limit_count,
            row.rate_limit_unit,
            row.quota_limit,
            row.quota_mode or "hard",
            row.billing_interval_count or 1,
        )
        for row in conn.execute(
            select(
                p.id,
                p.billing_interval,
                p.rate_limit_count,
                p.rate_limit_unit,
                p.quota_limit,
                p.quota_mode,
                p.billing_interval_count,
            )
        )
    }


def load_subscriptions(conn: Connection) -> list[Subscription]:
    """Every subscription, oldest first (columns named as Subscription's fields). A
    fenced one (being cancelled: its final usage is being cut) counts as cancelled."""
    s = t.subscriptions.c
    query = select(
        s.id, s.application_id, s.api_id, s.plan_id, s.consumer_id, s.state, s.billing_anchor
    ).order_by(s.created_at)
    ended = fence_repo.fenced(conn)
    out: list[Subscription] = []
    for row in conn.execute(query):
        fields = dict(row._mapping)
        if fields["id"] in ended:
            fields["state"] = "cancelled"
        out.append(Subscription(**fields))
    return out


def load_budgets(conn: Connection) -> dict[str, Budget]:
    """Subscription id -> its budget as a number of calls (``pricing.affordable_units``
    on the plan's one usage price). A budget on a plan that no longer has exactly one
    usage price is left out, with a warning (the control plane refuses to set one)."""
    b, s, p = t.subscription_budgets.c, t.subscriptions.c, t.plans.c
    query = (
        select(b.subscription_id, b.amount, p.currency, p.pricing)
        .join(t.subscriptions, s.id == b.subscription_id)
        .join(t.plans, p.id == s.plan_id)
    )
    out: dict[str, Budget] = {}
    for row in conn.execute(query):
        budget = _budget(row.pricing, row.currency, Decimal(row.amount), prepaid=False)
        if budget is None:
            log.warning("budget of %s ignored: its plan has not one usage price", row[0])
            continue
        out[row.subscription_id] = budget
    out.update(load_credit_balances(conn))
    return out


def _budget(pricing: object, currency: str, amount: Decimal, *, prepaid: bool) -> Budget | None:
    """``amount`` of the plan's usage charges as a number of calls; None when the plan's
    usage is not priced by one meter."""
    try:
        spec = parse_pricing(pricing, currency, several_meters=True)  # type: ignore[arg-type]
    except (TollwayError, ValueError):
        return None
    rater = SpendRater(spec)
    meter = rater.only_meter
    if meter is None:
        return None
    amount = amount.quantize(minor_unit(spec.currency))
    calls = affordable_units(rater, meter, amount)
    return Budget(amount, spec.currency, calls, meter, rater, prepaid)


def load_credit_balances(conn: Connection) -> dict[str, Budget]:
    """Prepaid subscriptions: every credit bought so far as a lifetime budget."""
    a, s, p = t.credit_accounts.c, t.subscriptions.c, t.plans.c
    query = (
        select(a.subscription_id, p.currency, p.pricing)
        .join(t.subscriptions, s.id == a.subscription_id)
        .join(t.plans, p.id == s.plan_id)
    )
    credited = credits_repo.credited_by_subscription(conn)
    out: dict[str, Budget] = {}
    for row in conn.execute(query):
        amount = credited.get(row.subscription_id, Decimal(0))
        budget = _budget(row.pricing, row.currency, amount, prepaid=True)
        if budget is not None:
            out[row.subscription_id] = budget
    return out


def on_versions(budgets: dict[str, Budget], pricing_of: Mapping[str, object]) -> dict[str, Budget]:
    """Budgets of subscriptions on an older plan version, counted on its pricing."""
    out = dict(budgets)
    for sub_id, pricing in pricing_of.items():
        b = budgets.get(sub_id)
        found = _budget(pricing, b.currency, b.amount, prepaid=b.prepaid) if b else None
        if found is not None:
            out[sub_id] = found
    return out


def with_budgets(subs: list[Subscription], budgets: Mapping[str, Budget]) -> list[Subscription]:
    return [replace(sub, budget=budgets[sub.id]) if sub.id in budgets else sub for sub in subs]


def load_public_keys(conn: Connection, now: datetime) -> dict[str, str]:
    """Token-signing key id -> public PEM, for keys not retired (or still in grace)."""
    k = t.signing_keys.c
    query = select(k.kid, k.public_pem).where(or_(k.retired_at.is_(None), k.retired_at > now))
    return {row.kid: row.public_pem for row in conn.execute(query)}


def load_revoked_jtis(conn: Connection, now: datetime) -> frozenset[str]:
    r = t.revoked_tokens.c
    return frozenset(row.jti for row in conn.execute(select(r.jti).where(r.expires_at > now)))


def load_quota_used(
    conn: Connection, subs: Iterable[Subscription], plans: Mapping[str, Plan], now: datetime
) -> dict[tuple[str, int], int]:
    """(subscription, period start epoch s) -> calls in the ledger this billing period,
    for active subscriptions on a plan with a hard quota."""
    quota_used: dict[tuple[str, int], int] = {}
    for sub in subs:
        plan = plans.get(sub.plan_id)
        if sub.state != "active" or plan is None or call_cap(sub, plan)[0] is None:
            continue
        start_s, end_s = PeriodCache().period(sub, plan, now.timestamp())
        quota_used[(sub.id, start_s)] = ledger.calls_between(
            conn, sub.id, start_s * 1000, end_s * 1000
        )
    return quota_used


def load_rate_tat(
    conn: Connection, subs: Iterable[Subscription], plans: Mapping[str, Plan], now: datetime
) -> dict[str, float]:
    """Subscription id -> GCRA state rebuilt from the ledger (``ratelimit.rebuilt_tat``),
    for active subscriptions on a rate-limited plan that made calls in the last period.
    One grouped query per distinct rate period."""
    by_period: dict[float, list[tuple[Subscription, Plan]]] = defaultdict(list)
    for sub in subs:
        plan = plans.get(sub.plan_id)
        params = gcra_params(plan) if plan is not None and sub.state == "active" else None
        if plan is not None and params is not None:
            by_period[params[1]].append((sub, plan))
    now_s = now.timestamp()
    u = t.usage_events.c
    out: dict[str, float] = {}
    for period, members in by_period.items():
        plan_of = {sub.id: plan for sub, plan in members}
        ids = list(plan_of)
        for i in range(0, len(ids), 500):
            query = (
                select(u.subscription_id, func.count(), func.max(u.timestamp_ms))
                .where(u.subscription_id.in_(ids[i : i + 500]))
                .where(u.timestamp_ms > int((now_s - period) * 1000))
                .group_by(u.subscription_id)
            )
            for sub_id, calls, last_ms in conn.execute(query):
                tat = rebuilt_tat(plan_of[sub_id], int(calls), int(last_ms), now_s)
                if tat is not None and tat > now_s:
                    out[sub_id] = tat
    return out


def load_snapshot(engine: Engine, now: datetime | None = None) -> Snapshot:
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        version = _version(conn)
        routes = load_routes(conn, load_upstreams(conn), load_operations(conn))
        owners = load_owners(conn)
        subs, plans, version_pricing = pin_versions(
            conn, load_subscriptions(conn), load_plans(conn)
        )
        subs = with_budgets(subs, on_versions(load_budgets(conn), version_pricing))
        return Snapshot(
            version=version,
            routes=routes,
            keys=load_keys(conn, owners),
            clients=load_clients(conn, owners),
            subscriptions=index_subscriptions(subs),
            plans=plans,
            public_keys=load_public_keys(conn, now),
            revoked_jtis=load_revoked_jtis(conn, now),
            quota_used=load_quota_used(conn, subs, plans, now),
            rate_tat=load_rate_tat(conn, subs, plans, now),
        )
