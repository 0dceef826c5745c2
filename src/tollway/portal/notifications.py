"""Notifications in the portal: the events you received, the webhook endpoints that get
them (the signing secret shown once), each delivery's outcome and replaying one."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import InvalidInput
from tollway.domain.notify_events import EVENT_TYPES
from tollway.domain.principal import Principal
from tollway.http.deps import Conn, Ctx
from tollway.services import notifications
from tollway.web import FormState, page_router, pages_of, read_form, redirect, require_user

router = page_router("/portal/notifications")


class EndpointForm(BaseModel):
    url: str = Field(min_length=1, max_length=2000, title="Endpoint URL")
    events: list[str] | str | None = Field(None, title="Events")


def _page(
    request: Request, conn: Conn, user: Principal, *, status: int = 200, **extra: Any
) -> Response:
    context: dict[str, Any] = {
        "endpoints": notifications.endpoints(conn, user),
        "deliveries": notifications.deliveries(conn, user)[:50],
        "received": notifications.received(conn, user)[:20],
        "event_types": EVENT_TYPES,
        "form": FormState(),
        "created": None,
        **extra,
    }
    return pages_of(request).render(request, "portal/notifications.html", context, status=status)


@router.get("")
def notifications_page(request: Request, conn: Conn) -> Response:
    return _page(request, conn, require_user(request))


@router.post("/endpoints")
def add_endpoint(request: Request, ctx: Ctx, conn: Conn) -> Response:
    user = require_user(request)
    model, form = read_form(request, EndpointForm)
    if model is not None:
        events = [model.events] if isinstance(model.events, str) else model.events
        try:
            created = notifications.create_endpoint(
                ctx, conn, user, url=model.url.strip(), events=events or None
            )
        except InvalidInput as exc:
            form.add_invalid_input(exc)
        else:  # the secret is shown on this answer only
            page = _page(request, conn, user, created=created)
            page.headers["Cache-Control"] = "no-store"
            return page
    return _page(request, conn, user, status=422, form=form)


@router.post("/endpoints/{endpoint_id}/delete")
def delete_endpoint(request: Request, conn: Conn, endpoint_id: str) -> Response:
    notifications.delete_endpoint(conn, require_user(request), endpoint_id)
    response = redirect(request, "/portal/notifications")
    pages_of(request).add_flash(request, response, "success", "Endpoint removed.")
    return response


@router.post("/deliveries/{delivery_id}/replay")
def replay(request: Request, ctx: Ctx, conn: Conn, delivery_id: str) -> Response:
    notifications.replay(ctx, conn, require_user(request), delivery_id)
    response = redirect(request, "/portal/notifications")
    pages_of(request).add_flash(
        request, response, "success", "The delivery is queued again; it goes out within seconds."
    )
    return response
