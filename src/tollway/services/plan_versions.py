"""Plan versions: publishing a new price makes a new version of the plan; the publisher
chooses whether existing subscribers stay on their version (grandfathered) or move to
the new one at their next renewal. New subscribers always get the latest version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.principal import Principal
from tollway.store import billing_repo, plan_versions_repo, plans_repo

ExistingSubscribers = Literal["stay", "move_at_renewal"]


def publish(
    ctx: AppContext,
    conn: Connection,
    plan: dict[str, Any],
    values: dict[str, Any],
    existing_subscribers: ExistingSubscribers,
) -> int:
    """Version N+1 of ``plan`` with ``values`` (validated pricing and limit columns):
    the plan row takes them (new subscriptions), live subscribers are pinned to their
    version and, with ``move_at_renewal``, set to move at renewal. Returns N+1. The
    caller provisions the new prices."""
    now = ctx.clock.now()
    plan_versions_repo.ensure_first(conn, plan, now)
    current = plan_versions_repo.latest(conn, plan["id"])
    plan_versions_repo.pin_live(conn, plan["id"], current)
    plans_repo.update_fields(conn, plan["id"], values, now)
    new = plans_repo.get_any(conn, plan["id"])
    plan_versions_repo.add(conn, plan["id"], current + 1, new, existing_subscribers, now)
    if existing_subscribers == "move_at_renewal":
        plan_versions_repo.move_at_renewal(conn, plan["id"], current + 1)
    return current + 1


def version_dict(row: dict[str, Any], latest: int, subscribers: int) -> dict[str, Any]:
    limits = row["limits"]
    return {
        "version": row["version"],
        "label": f"v{row['version']}",
        "latest": row["version"] == latest,
        "pricing": row["pricing"],
        "rate_limit": {"count": limits["rate_limit_count"], "per": limits["rate_limit_unit"]}
        if limits.get("rate_limit_count") is not None
        else None,
        "quota": {"limit": limits["quota_limit"], "mode": limits.get("quota_mode") or "hard"}
        if limits.get("quota_limit") is not None
        else None,
        "existing_subscribers": row["existing_subscribers"],
        "subscribers": subscribers,
        "created_at": row["created_at"],
    }


def list_versions(conn: Connection, caller: Principal, plan_id: str) -> list[dict[str, Any]]:
    """Every version of a plan the caller may see, oldest first, with its live
    subscribers (a plan without recorded versions is its v1)."""
    plan = plans_repo.get(conn, plan_id, caller)
    rows = plan_versions_repo.versions(conn, plan_id) or [
        {
            "version": 1,
            "pricing": plan["pricing"],
            "limits": plan_versions_repo.limits_of(plan),
            "existing_subscribers": "stay",
            "created_at": plan["created_at"],
        }
    ]
    latest = rows[-1]["version"]
    counts = plan_versions_repo.subscriber_counts(conn, plan_id)
    return [version_dict(row, latest, counts.get(row["version"], 0)) for row in rows]


def of_subscription(conn: Connection, sub: dict[str, Any]) -> dict[str, Any]:
    """The subscription's plan version: ``plan_version``, ``plan_version_next`` and a
    label — "v2", "v1 (grandfathered)" or "v1 → v2 at renewal on 2026-12-28"."""
    at = plan_versions_repo.of_subscription(conn, str(sub["id"]), str(sub["plan_id"]))
    label = f"v{at.version}"
    if at.next_version is not None:
        row = billing_repo.billing_subscription(conn, subscription_id=str(sub["id"]))
        end = row.current_period_end if row is not None else None
        when = f" on {datetime.fromtimestamp(end, UTC).date().isoformat()}" if end else ""
        label += f" → v{at.next_version} at renewal{when}"
    elif at.grandfathered:
        label += " (grandfathered)"
    return {
        "plan_version": at.version,
        "plan_version_next": at.next_version,
        "plan_version_label": label,
    }
