"""Notifications: endpoints a user registers for signed webhooks, the notifications they
received, each delivery's outcome and replaying one. Alerts on a subscription's quota
or budget (``alert.triggered``) are set here too.

Every object belongs to one user (endpoints, notifications) or is reached through a
subscription the caller can see (alerts): another user's is a 404.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.errors import InvalidInput
from tollway.domain.notify_events import EVENT_TYPES
from tollway.domain.principal import Principal
from tollway.security.ssrf import UrlGuard
from tollway.store import alerts_repo, notify_repo, plans_repo, subscriptions_repo

ALERT_METRICS = ("quota", "budget")
MAX_ENDPOINTS = 10


def create_endpoint(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    *,
    url: str,
    events: list[str] | None,
) -> dict[str, Any]:
    """Register a webhook URL (vetted by the SSRF guard) for ``events`` (None: all). The
    signing secret is in the result, once."""
    UrlGuard(ctx.settings.ssrf_allow).check_upstream_url(url)
    if events is not None:
        unknown = [e for e in events if e not in EVENT_TYPES]
        if unknown or not events:
            raise InvalidInput.at(
                ("events",),
                f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}"
                if unknown
                else "list at least one event type, or leave events out for all",
            )
    if len(notify_repo.endpoints_of(conn, caller.user_id)) >= MAX_ENDPOINTS:
        raise InvalidInput.at(("url",), f"at most {MAX_ENDPOINTS} endpoints per user")
    secret = "whsec_" + secrets.token_urlsafe(32)
    row = notify_repo.create_endpoint(
        conn,
        owner_id=caller.user_id,
        url=url,
        secret_encrypted=ctx.secrets.encrypt(secret),
        events=sorted(set(events)) if events is not None else None,
        now=ctx.clock.now(),
    )
    return {**row, "secret": secret}


def endpoints(conn: Connection, caller: Principal) -> list[dict[str, Any]]:
    return notify_repo.endpoints_of(conn, caller.user_id)


def delete_endpoint(conn: Connection, caller: Principal, endpoint_id: str) -> None:
    notify_repo.delete_endpoint(conn, caller.user_id, endpoint_id)


def deliveries(
    conn: Connection, caller: Principal, endpoint_id: str | None = None
) -> list[dict[str, Any]]:
    if endpoint_id is not None:
        notify_repo.endpoint_of(conn, caller.user_id, endpoint_id)  # 404 when not theirs
    return notify_repo.deliveries_of(conn, caller.user_id, endpoint_id=endpoint_id)


def replay(
    ctx: AppContext, conn: Connection, caller: Principal, delivery_id: str
) -> dict[str, Any]:
    return notify_repo.replay(conn, caller.user_id, delivery_id, ctx.clock.now())


def received(conn: Connection, caller: Principal) -> list[dict[str, Any]]:
    return notify_repo.notifications_of(conn, caller.user_id)


# --- alerts -------------------------------------------------------------------------


def _thresholds(values: list[int]) -> list[int]:
    if not values or len(values) > 10:
        raise InvalidInput.at(("thresholds",), "give 1 to 10 thresholds, e.g. [50, 80, 100]")
    for i, v in enumerate(values):
        if not 1 <= v <= 1000:
            raise InvalidInput.at(("thresholds", i), "a threshold is a percent from 1 to 1000")
    return sorted(set(values))


def create_alert(
    ctx: AppContext,
    conn: Connection,
    caller: Principal,
    sub_id: str,
    *,
    metric: str,
    thresholds: list[int],
) -> dict[str, Any]:
    """Thresholds (percent of the quota or the budget) that each fire once per period."""
    sub = subscriptions_repo.get(conn, sub_id, caller)
    if metric not in ALERT_METRICS:
        raise InvalidInput.at(("metric",), "the metric is 'quota' or 'budget'")
    if metric == "quota" and plans_repo.get_any(conn, str(sub["plan_id"]))["quota_limit"] is None:
        raise InvalidInput.at(("metric",), "the plan has no quota; alert on 'budget' instead")
    return alerts_repo.create(
        conn,
        subscription_id=str(sub["id"]),
        metric=metric,
        thresholds=_thresholds(thresholds),
        actor=caller.user_id,
        now=ctx.clock.now(),
    )


def alerts(conn: Connection, caller: Principal, sub_id: str) -> list[dict[str, Any]]:
    """The subscription's alerts, each with the thresholds that fired (``fired``)."""
    sub = subscriptions_repo.get(conn, sub_id, caller)
    return [
        {**a, "fired": alerts_repo.firings(conn, str(a["id"]))}
        for a in alerts_repo.of_subscription(conn, str(sub["id"]))
    ]


def delete_alert(conn: Connection, caller: Principal, sub_id: str, alert_id: str) -> None:
    sub = subscriptions_repo.get(conn, sub_id, caller)
    alerts_repo.remove(conn, str(sub["id"]), alert_id)
