"""The style guide at ``/_style`` (only with ``TOLLWAY_STYLE_GUIDE=true``, and in tests).

Every component on one page, plus the behaviours page builders rely on, each at a URL
the browser tests drive: a form that validates with pydantic and with a domain
``InvalidInput``, CSRF, a confirmation dialog, polling, and every error page.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, EmailStr, Field
from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import Forbidden, InvalidInput, NotFound

from .forms import FormState, read_form
from .htmx import redirect
from .routing import add_not_found_page, page_router, pages_of, require_user

router = page_router("/_style")

DAY = 86400
SAMPLE_START = 1767225600  # 2026-01-01T00:00:00Z: fixed, so the page never changes by itself
SAMPLE_CALLS = [1200, 1830, 1610, 2400, 2950, 800, 640, 2210, 2675, 3120, 2890, 3310, 1020, 930]
POLLS_UNTIL_PAID = 2


class DemoApplication(BaseModel):
    """Stands for any page form: a name, an email, a number, a choice."""

    name: str = Field(min_length=2, max_length=40, title="Application name")
    contact_email: EmailStr
    monthly_calls: int = Field(ge=0, le=1_000_000_000, title="Calls a month")
    environment: Literal["production", "development"]
    accept_terms: bool = Field(False, title="Terms of use")


def _create_application(app: DemoApplication) -> None:
    """Stands for a service call that refuses with a located domain error."""
    if app.name.strip().lower() == "taken":
        raise InvalidInput.at(("application", "name"), "An application with this name exists.")
    if not app.accept_terms:
        raise InvalidInput.at(("terms",), "Accept the terms to continue.")


ALIASES = {"application.name": "name", "terms": "accept_terms"}


def _sample_context(form: FormState) -> dict[str, Any]:
    usage = {
        "x": [SAMPLE_START + i * DAY for i in range(len(SAMPLE_CALLS))],
        "series": [
            {"label": "Calls", "values": SAMPLE_CALLS},
            {"label": "Errors", "values": [v // 40 for v in SAMPLE_CALLS]},
        ],
        "x_kind": "time",
    }
    revenue = {
        "x": ["Free", "Starter", "Pay as you go", "Enterprise"],
        "series": [
            {
                "label": "Revenue (USD)",
                "values": [0, Decimal("490.00"), Decimal("1234.56"), Decimal("4000")],
            }
        ],
        "x_kind": "category",
    }
    subscriptions = [
        {
            "api": "Reading List",
            "plan": "Pay as you go",
            "state": "active",
            "calls": 48210,
            "cost": Decimal("9.6420"),
        },
        {
            "api": "Weather <beta>",
            "plan": "Starter",
            "state": "on_hold",
            "calls": 0,
            "cost": Decimal("0"),
        },
        {
            "api": "Geocoding",
            "plan": "Enterprise",
            "state": "blocked",
            "calls": 1520340,
            "cost": Decimal("1204.50"),
        },
        {
            "api": "Translate",
            "plan": "Free",
            "state": "cancelled",
            "calls": 99,
            "cost": Decimal("0"),
        },
    ]
    return {
        "form": form,
        "usage": usage,
        "revenue": revenue,
        "subscriptions": subscriptions,
        "states": [
            "active",
            "on_hold",
            "blocked",
            "cancelled",
            "published",
            "deprecated",
            "created",
            "retired",
        ],
        "curl": 'curl -H "apikey: $KEY" https://gateway.example.com/reading-list/v1/books',
    }


@router.get("")
def style_guide(request: Request) -> Response:
    form = FormState(values={"environment": "production", "monthly_calls": "50000"})
    return pages_of(request).render(request, "styleguide/index.html", _sample_context(form))


@router.post("/form")
def style_guide_form(request: Request) -> Response:
    pages = pages_of(request)
    model, form = read_form(request, DemoApplication)
    if model is not None:
        try:
            _create_application(model)
        except InvalidInput as exc:
            form.add_invalid_input(exc, ALIASES)
    if form.has_errors:
        return pages.render(request, "styleguide/index.html", _sample_context(form), status=422)
    response = redirect(request, "/_style")
    pages.add_flash(
        request, response, "success", f"Application “{model.name if model else ''}” created."
    )
    return response


@router.post("/confirm")
def style_guide_confirm(request: Request) -> Response:
    pages = pages_of(request)
    response = redirect(request, "/_style")
    pages.add_flash(
        request, response, "info", "Subscription cancelled (style guide: nothing changed)."
    )
    return response


@router.get("/poll")
def style_guide_poll(request: Request, n: int = 0) -> Response:
    """Answers "waiting" until it was asked ``POLLS_UNTIL_PAID`` times, then "paid"."""
    return pages_of(request).render(
        request,
        "styleguide/index.html",
        {**_sample_context(FormState()), "poll_n": n},
        partial="styleguide/_poll.html",
    )


@router.get("/private")
def style_guide_private(request: Request) -> Response:
    user = require_user(request)
    return pages_of(request).render(
        request,
        "errors/error.html",
        {"status": 200, "title": "Signed in", "message": user.email, "reference": None},
    )


@router.get("/things/{thing_id}")
def style_guide_thing(request: Request, thing_id: int) -> Response:
    raise NotFound(f"thing {thing_id} not found")


@router.get("/forbidden")
def style_guide_forbidden(request: Request) -> Response:
    raise Forbidden("Only publishers can open the console.")


@router.get("/boom")
def style_guide_boom(request: Request) -> Response:
    raise RuntimeError("an internal detail that must not reach the page")


add_not_found_page(router)
