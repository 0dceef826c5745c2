"""Subscribers: per API and plan with state, since, this period's calls and estimated
bill; detail with the state history; block and unblock with a reason."""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import Conflict
from tollway.http.deps import Conn, Ctx
from tollway.services import subscribers, subscriptions
from tollway.web import FormState, page_router, pages_of, read_form, redirect

from .access import publisher

router = page_router("/console/subscribers")


class ReasonForm(BaseModel):
    reason: str = Field(min_length=3, max_length=500, title="Reason")


@router.get("")
def subscriber_list(
    request: Request, ctx: Ctx, conn: Conn, api: str | None = None, plan: str | None = None
) -> Response:
    user = publisher(request)
    rows = subscribers.list_subscribers(ctx, conn, user, api_id=api, plan_id=plan)
    return pages_of(request).render(request, "console/subscribers.html", {"subscribers": rows})


@router.get("/{sub_id}")
def subscriber_page(request: Request, ctx: Ctx, conn: Conn, sub_id: str) -> Response:
    user = publisher(request)
    sub = subscribers.subscriber(ctx, conn, user, sub_id)
    return pages_of(request).render(
        request, "console/subscriber.html", {"sub": sub, "form": FormState()}
    )


@router.post("/{sub_id}/{action}")
def block_or_unblock(request: Request, ctx: Ctx, conn: Conn, sub_id: str, action: str) -> Response:
    user = publisher(request)
    if action not in ("block", "unblock"):
        subscriptions.get_subscription(conn, user, sub_id)
        raise Conflict(f"unknown action '{action}'")
    model, form = read_form(request, ReasonForm)
    if model is None:
        sub = subscribers.subscriber(ctx, conn, user, sub_id)
        return pages_of(request).render(
            request, "console/subscriber.html", {"sub": sub, "form": form}, status=422
        )
    change = subscriptions.block if action == "block" else subscriptions.unblock
    response = redirect(request, f"/console/subscribers/{sub_id}")
    try:
        row = change(ctx, conn, user, sub_id, reason=model.reason)
    except Conflict as exc:
        pages_of(request).add_flash(request, response, "danger", f"Not changed: {exc.detail}.")
        return response
    pages_of(request).add_flash(
        request, response, "success", f"The subscription is {row['state']}."
    )
    return response
