"""The console's sign-in and sign-out (the same accounts and sessions as the API: the
session cookie is shared with the portal)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import Unauthenticated
from tollway.http.deps import Conn, Ctx, clear_session_cookie, set_session_cookie
from tollway.services import accounts
from tollway.web import FormState, page_router, pages_of, read_form, redirect, safe_next

from .access import HOME_PATH, publisher

router = page_router("/console")


class SignInForm(BaseModel):
    email: str = Field(min_length=3, max_length=254, title="Email")
    password: str = Field(min_length=1, max_length=1000, title="Password")


@router.get("/sign-in")
def sign_in_page(request: Request, next: str | None = None) -> Response:
    pages = pages_of(request)
    if pages.user(request) is not None and next is None:
        return redirect(request, HOME_PATH)
    form = FormState(values={"next": safe_next(next, HOME_PATH)})
    return pages.render(request, "console/sign_in.html", {"form": form})


@router.post("/sign-in")
def sign_in(request: Request, ctx: Ctx, conn: Conn) -> Response:
    pages = pages_of(request)
    model, form = read_form(request, SignInForm)
    target = safe_next(form.value("next"), HOME_PATH)
    form.values["next"] = target
    signed_in = None
    if model is not None:
        address = request.client.host if request.client else None
        try:
            signed_in = accounts.log_in(
                ctx, conn, email=model.email.strip(), password=model.password, address=address
            )
        except Unauthenticated:
            form.add("password", "Wrong email or password.")
    if signed_in is None:
        return pages.render(request, "console/sign_in.html", {"form": form}, status=422)
    response = redirect(request, target)
    set_session_cookie(
        response,
        signed_in.session.raw,
        max_age=ctx.settings.session_lifetime_s,
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
def sign_out(request: Request, ctx: Ctx, conn: Conn) -> Response:
    user = publisher(request)
    accounts.log_out(ctx, conn, user)
    response = redirect(request, "/console/sign-in")
    clear_session_cookie(response)
    pages_of(request).add_flash(request, response, "success", "You are signed out.")
    return response
