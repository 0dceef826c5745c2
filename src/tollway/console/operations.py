"""Operations: the publish-usage job (status, "publish now"), the Stripe webhook
deliveries received (event, when, outcome; replay a failed one)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import NotFound
from tollway.http.deps import Conn, Ctx
from tollway.services import billing, stripe_connection
from tollway.web import page_router, pages_of, redirect

from .access import publisher

router = page_router("/console/operations")
PAGE = "/console/operations"


def _job(conn: Conn, request: Request) -> dict[str, Any] | None:
    try:
        return billing.publish_usage_status(conn, publisher(request))
    except NotFound:
        return None


@router.get("")
def operations_page(request: Request, conn: Conn) -> Response:
    user = publisher(request)
    context = {
        "job": _job(conn, request),
        "webhooks": stripe_connection.recent_webhooks(conn, user),
    }
    return pages_of(request).render(request, "console/operations.html", context)


@router.get("/publish")
def publish_status(request: Request, conn: Conn) -> Response:
    """The job region (polled by htmx while the job runs)."""
    user = publisher(request)
    context = {
        "job": _job(conn, request),
        "webhooks": stripe_connection.recent_webhooks(conn, user),
    }
    return pages_of(request).render(
        request, "console/operations.html", context, partial="console/_publish_job.html"
    )


@router.post("/publish")
def publish_now(request: Request, ctx: Ctx, conn: Conn) -> Response:
    user = publisher(request)
    billing.publish_usage(ctx, conn, user)
    response = redirect(request, PAGE)
    pages_of(request).add_flash(request, response, "success", "Publishing usage to Stripe now.")
    return response


@router.post("/webhooks/{event_id}/replay")
def replay(request: Request, ctx: Ctx, conn: Conn, event_id: str) -> Response:
    user = publisher(request)
    stripe_connection.replay_webhook(ctx, conn, user, event_id)
    response = redirect(request, PAGE)
    pages_of(request).add_flash(
        request, response, "success", f"Event {event_id} will be applied again."
    )
    return response
