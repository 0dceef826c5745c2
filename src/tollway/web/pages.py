"""Rendering pages: the Jinja2 environment, the shared context, the security headers.

One :class:`Pages` per application (``request.app.state.pages``). ``render`` gives every
template ``request``, ``user``, ``brand``, ``csrf_token``, ``flashes``, ``static()``,
``current_path`` and ``version``, and answers with ``Cache-Control: no-store`` (pages are
personal), a strict Content-Security-Policy (scripts only from this server) and
``Vary: HX-Request``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Undefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from tollway import __version__
from tollway.domain.money import format_amount, from_minor
from tollway.domain.principal import Principal
from tollway.settings import Settings

from . import csrf, flash
from .assets import static_url
from .brand import Brand
from .charts import chart_json, chart_rows
from .htmx import is_htmx

log = logging.getLogger("tollway.web")

CurrentUser = Callable[[Request], Principal | None]

#: State words -> badge tone. Unknown states get the neutral tone, never an error.
BADGE_TONES: dict[str, str] = {
    "active": "success",
    "published": "success",
    "paid": "success",
    "succeeded": "success",
    "connected": "success",
    "on_hold": "warning",
    "pending": "warning",
    "past_due": "warning",
    "deprecated": "warning",
    "draft": "info",
    "open": "info",
    "created": "info",
    "trialing": "info",
    "blocked": "danger",
    "failed": "danger",
    "unpaid": "danger",
    "cancelled": "neutral",
    "canceled": "neutral",
    "retired": "neutral",
    "revoked": "neutral",
    "void": "neutral",
    "expired": "neutral",
}


def _no_user(_: Request) -> None:
    return None


def money(amount: Decimal | int | str, currency: str) -> Markup:
    """``<data value="12.5" class="money">$12.50</data>``; never rounds what it is given."""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    text = format_amount(value, currency)
    return Markup('<data class="money" value="{}">{}</data>').format(str(value), text)


def money_minor(minor: int, currency: str) -> Markup:
    """Like :func:`money` for integer minor units (Stripe's ``amount``)."""
    return money(from_minor(minor, currency), currency)


def state_label(state: str) -> str:
    return state.replace("_", " ")


@dataclass
class Pages:
    """The page foundation of one application (see the module docstring)."""

    settings: Settings
    csrf_key: bytes
    flash_key: bytes
    current_user: CurrentUser = _no_user
    session_cookie: str = "tollway_session"
    sign_in_path: str = "/portal/sign-in"
    strict: bool = False

    def __post_init__(self) -> None:
        self.brand = Brand(
            name=self.settings.brand_name,
            color=self.settings.brand_color,
            logo_url=self.settings.brand_logo_url,
        )
        self.env = make_environment(strict=self.strict)
        self.env.globals.update(brand=self.brand, version=__version__)

    def make_strict(self) -> None:
        """Fail on any undefined template name from now on (tests call this)."""
        self.strict = True
        self.env.undefined = StrictUndefined

    def user(self, request: Request) -> Principal | None:
        """The signed-in person, cached on the request; ``None`` when lookup fails."""
        if not hasattr(request.state, "user"):
            try:
                request.state.user = self.current_user(request)
            except Exception:  # the error page must render even when the lookup fails
                log.warning("could not resolve the page's user", exc_info=True)
                request.state.user = None
        user: Principal | None = request.state.user
        return user

    def csrf_token(self, request: Request) -> str:
        seed = request.cookies.get(csrf.CSRF_COOKIE) or getattr(request.state, "csrf_seed", None)
        if seed is None:
            seed = csrf.new_seed()
            request.state.csrf_seed = seed
        return csrf.token_for(self.csrf_key, seed, request.cookies.get(self.session_cookie))

    def add_flash(
        self, request: Request, response: Response, tone: flash.Tone, message: str
    ) -> None:
        flash.add(self.flash_key, request, response, tone, message)

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        partial: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """The page ``template`` (or ``partial`` for an htmx request) as a response."""
        fragment = partial is not None and is_htmx(request)
        flashes = (
            []
            if fragment
            else flash.decode(self.flash_key, request.cookies.get(flash.FLASH_COOKIE))
        )
        values: dict[str, Any] = {
            "request": request,
            "user": self.user(request),
            "csrf_token": self.csrf_token(request),
            "csrf_field": csrf.CSRF_FIELD,
            "csrf_header": csrf.CSRF_HEADER,
            "flashes": flashes,
            "current_path": request.url.path,
        }
        values.update(context or {})
        html = self.env.get_template(partial if fragment and partial else template).render(values)
        response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
        self.secure_headers(response)
        seed = getattr(request.state, "csrf_seed", None)
        if seed is not None and csrf.CSRF_COOKIE not in request.cookies:
            response.set_cookie(
                csrf.CSRF_COOKIE,
                seed,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                path="/",
            )
        if flashes:
            response.delete_cookie(flash.FLASH_COOKIE, path="/")
        return response

    def secure_headers(self, response: Response) -> None:
        img = "'self' data:"
        if self.brand.logo_origin:
            img += " " + self.brand.logo_origin
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src {img}; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'"
        )
        response.headers["Cache-Control"] = "no-store"
        response.headers["Vary"] = "HX-Request, Cookie"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"


def make_environment(*, strict: bool = False) -> Environment:
    """The Jinja2 environment: autoescaping always on, undefined names fatal when ``strict``."""
    env = Environment(
        loader=PackageLoader("tollway.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined if strict else Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(static=static_url, badge_tone=lambda s: BADGE_TONES.get(s, "neutral"))
    env.filters.update(
        money=money,
        money_minor=money_minor,
        state_label=state_label,
        chart_json=chart_json,
        chart_rows=chart_rows,
    )
    return env
