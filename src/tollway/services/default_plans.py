"""Default plans on sign-up: a publisher names one free plan of a published API, and
every application created from then on is subscribed to it at once (active, as any free
subscription), so a new developer can call the API without a second step."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from tollway.context import AppContext
from tollway.domain.errors import Conflict, NotFound, TollwayError
from tollway.domain.lifecycle import SUBSCRIBABLE
from tollway.domain.principal import Principal
from tollway.services import plans, subscriptions
from tollway.store import apis_repo, default_plans_repo, plans_repo


def get(conn: Connection, caller: Principal, api_id: str) -> dict[str, Any]:
    apis_repo.get(conn, api_id, caller)
    return {"api_id": api_id, "plan_id": default_plans_repo.get(conn, api_id)}


def put(
    ctx: AppContext, conn: Connection, caller: Principal, api_id: str, plan_id: str | None
) -> dict[str, Any]:
    """Set the API's default plan (a free, active plan enabled on it) or clear it."""
    caller.require("publisher")
    apis_repo.get(conn, api_id, caller, manage=True)
    if plan_id is not None:
        if not apis_repo.plan_enabled(conn, api_id, plan_id):
            raise NotFound(f"plan '{plan_id}' is not offered on this API")
        plan = plans_repo.get_any(conn, plan_id)
        if plan["status"] != "active":
            raise Conflict("the plan is retired")
        if not plans.is_free(plan):
            raise Conflict("only a free plan can be the default: a paid one needs Checkout")
    default_plans_repo.put(conn, api_id, plan_id, ctx.clock.now())
    return {"api_id": api_id, "plan_id": plan_id}


def subscribe_new_application(
    ctx: AppContext, conn: Connection, caller: Principal, application_id: str
) -> list[dict[str, Any]]:
    """Subscribe a new application to the default plan of every published API the
    caller may see; an API the caller may not see, or a plan no longer offered, is
    skipped. Returns the subscriptions made."""
    made = []
    lifecycles = frozenset(str(x.value) for x in SUBSCRIBABLE)
    for api_id, plan_id in default_plans_repo.in_lifecycle(conn, lifecycles):
        try:  # subscribe refuses (404, 409) before it writes anything
            made.append(
                subscriptions.subscribe(
                    ctx, conn, caller, application_id=application_id, api_id=api_id, plan_id=plan_id
                )
            )
        except TollwayError:
            continue
    return made
