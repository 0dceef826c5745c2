"""Sign up, sign in, sign out and reset a forgotten password (by email).

The session is the control plane's cookie session (``tollway_session``: HttpOnly,
SameSite=Strict), the same one the REST API's ``/auth/login`` sets, so the portal and the
publisher console share it. The rules are ``services.accounts`` and
``services.password_reset``; these handlers only read forms and draw pages.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, EmailStr, Field
from starlette.requests import Request
from starlette.responses import Response

from tollway.domain.errors import Conflict, InvalidInput, RateLimited, Unauthenticated
from tollway.http.deps import Conn, Ctx, clear_session_cookie, set_session_cookie
from tollway.services import accounts, password_reset
from tollway.web import FormState, page_router, pages_of, read_form, redirect, safe_next

router = page_router("/portal")

HOME = "/portal/apps"
Next = Annotated[str, Query(max_length=2000)]


class SignInForm(BaseModel):
    email: EmailStr = Field(title="Email")
    password: str = Field(max_length=1024, title="Password")
    next: str = Field("", max_length=2000)


class SignUpForm(BaseModel):
    name: str = Field(min_length=1, max_length=200, title="Your name")
    email: EmailStr = Field(title="Email")
    password: str = Field(max_length=1024, title="Password")
    next: str = Field("", max_length=2000)


class ResetRequestForm(BaseModel):
    email: EmailStr = Field(title="Email")


class NewPasswordForm(BaseModel):
    password: str = Field(max_length=1024, title="New password")


def _signed_in(request: Request, ctx: Ctx, signed_in: accounts.SignedIn, target: str) -> Response:
    response = redirect(request, safe_next(target, HOME))
    set_session_cookie(
        response,
        signed_in.session.raw,
        max_age=ctx.settings.session_lifetime_s,
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/sign-in")
def sign_in_page(request: Request, next: Next = "") -> Response:
    target = safe_next(next, "")
    if pages_of(request).user(request) is not None:
        return redirect(request, target or HOME)
    form = FormState(values={"next": target})
    return pages_of(request).render(request, "portal/sign_in.html", {"form": form, "next": target})


@router.post("/sign-in")
def sign_in(request: Request, ctx: Ctx, conn: Conn) -> Response:
    model, form = read_form(request, SignInForm)
    target = safe_next(form.value("next"), "")
    if model is not None:
        address = request.client.host if request.client else None
        try:
            signed_in = accounts.log_in(
                ctx, conn, email=model.email, password=model.password, address=address
            )
        except Unauthenticated:
            form.add("password", "Wrong email or password.")
        except RateLimited as exc:
            minutes = max(1, -(-exc.retry_after_s // 60))
            form.add("", f"Too many failed attempts. Try again in {minutes} minutes.")
        else:
            return _signed_in(request, ctx, signed_in, target)
    context = {"form": form, "next": target}
    return pages_of(request).render(request, "portal/sign_in.html", context, status=422)


@router.get("/sign-up")
def sign_up_page(request: Request, next: Next = "") -> Response:
    target = safe_next(next, "")
    context = {
        "form": FormState(),
        "next": target,
        "min_password": password_reset.MIN_PASSWORD_LENGTH,
    }
    return pages_of(request).render(request, "portal/sign_up.html", context)


@router.post("/sign-up")
def sign_up(request: Request, ctx: Ctx, conn: Conn) -> Response:
    model, form = read_form(request, SignUpForm)
    target = safe_next(form.value("next"), "")
    if model is not None:
        try:
            signed_in = accounts.sign_up(
                ctx, conn, email=model.email, name=model.name.strip(), password=model.password
            )
        except InvalidInput as exc:
            form.add_invalid_input(exc)
        except Conflict:
            form.add("email", "An account with this email exists. Sign in, or reset its password.")
        else:
            response = _signed_in(request, ctx, signed_in, target)
            pages_of(request).add_flash(
                request,
                response,
                "success",
                f"Welcome, {model.name.strip()}! Your account is ready.",
            )
            return response
    context = {"form": form, "next": target, "min_password": password_reset.MIN_PASSWORD_LENGTH}
    return pages_of(request).render(request, "portal/sign_up.html", context, status=422)


@router.post("/sign-out")
def sign_out(request: Request, ctx: Ctx, conn: Conn) -> Response:
    user = pages_of(request).user(request)
    if user is not None:
        accounts.log_out(ctx, conn, user)
    response = redirect(request, "/portal")
    clear_session_cookie(response)
    pages_of(request).add_flash(request, response, "info", "You are signed out.")
    return response


def _reset_context(form: FormState, sent: str = "") -> dict[str, object]:
    return {"form": form, "sent": sent, "valid_minutes": password_reset.VALID_MINUTES}


@router.get("/reset-password")
def reset_request_page(request: Request) -> Response:
    return pages_of(request).render(
        request, "portal/reset_request.html", _reset_context(FormState())
    )


@router.post("/reset-password")
def reset_request(request: Request, ctx: Ctx, conn: Conn) -> Response:
    model, form = read_form(request, ResetRequestForm)
    pages = pages_of(request)
    if model is None:
        return pages.render(request, "portal/reset_request.html", _reset_context(form), status=422)
    base = ctx.settings.resolved_public_url if ctx.settings.public_url else str(request.base_url)
    base = base.rstrip("/")
    password_reset.request_reset(
        ctx,
        conn,
        email=model.email,
        link=lambda token: f"{base}/portal/reset-password/{token}",
        address=request.client.host if request.client else None,
    )
    return pages.render(request, "portal/reset_request.html", _reset_context(form, model.email))


def _new_password_context(token: str, form: FormState, invalid: str = "") -> dict[str, object]:
    return {
        "form": form,
        "token": token,
        "invalid": invalid,
        "min_password": password_reset.MIN_PASSWORD_LENGTH,
    }


@router.get("/reset-password/{token}")
def new_password_page(request: Request, ctx: Ctx, conn: Conn, token: str) -> Response:
    invalid = ""
    try:
        password_reset.user_of(ctx, conn, token)
    except InvalidInput as exc:
        invalid = exc.errors[0].message if exc.errors else exc.detail
    context = _new_password_context(token, FormState(), invalid)
    return pages_of(request).render(request, "portal/reset_password.html", context)


@router.post("/reset-password/{token}")
def set_new_password(request: Request, ctx: Ctx, conn: Conn, token: str) -> Response:
    model, form = read_form(request, NewPasswordForm)
    pages = pages_of(request)
    invalid = ""
    if model is not None:
        try:
            email = password_reset.reset_password(ctx, conn, token=token, password=model.password)
        except InvalidInput as exc:
            if exc.errors and exc.errors[0].loc[:1] == ("token",):
                invalid = exc.errors[0].message
            else:
                form.add_invalid_input(exc)
        else:
            response = redirect(request, "/portal/sign-in")
            pages.add_flash(
                request, response, "success", f"Password changed. Sign in as {email} with it."
            )
            clear_session_cookie(response)
            return response
    context = _new_password_context(token, form, invalid)
    return pages.render(request, "portal/reset_password.html", context, status=422)
