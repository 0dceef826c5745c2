"""Routes outside /v1: hosted pages and the /_emulator test endpoints."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from . import admin, checkout_pay, errors, pages
from .billing import attempt_payment, subscription_of
from .lifecycle import after_payment, cancel_subscription
from .resources.customers import make_pm
from .runtime import Runtime
from .state import Obj


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


# -- hosted checkout -------------------------------------------------------------------
async def checkout_get(request: Request) -> Response:
    rt = _rt(request)
    with rt.state.lock:
        s = rt.state.get(request.path_params["sid"])
        if s is None or s.get("object") != "checkout.session":
            return HTMLResponse(pages.page("Checkout", "<p>No such checkout session.</p>"), 404)
        return HTMLResponse(pages.checkout_page(rt.state, s))


async def checkout_post(request: Request) -> Response:
    rt = _rt(request)
    form = await request.form()
    with rt.state.lock:
        s = rt.state.get(request.path_params["sid"])
        if s is None or s.get("object") != "checkout.session":
            return HTMLResponse(pages.page("Checkout", "<p>No such checkout session.</p>"), 404)
        expiry = pages.parse_expiry(pages.form_value(form, "expiry"))
        number = pages.form_value(form, "card_number")
        if expiry is None or not number or not pages.form_value(form, "cvc"):
            return HTMLResponse(
                pages.checkout_page(
                    rt.state, s, "Enter a card number, an expiry date (MM/YY) and a CVC."
                ),
                400,
            )
        ctx = rt.ctx(str(request.base_url))
        try:
            target = checkout_pay.complete(
                ctx,
                s,
                number=number,
                exp_month=expiry[0],
                exp_year=expiry[1],
                email=pages.form_value(form, "email") or None,
                name=pages.form_value(form, "name") or None,
                promotion_code=pages.form_value(form, "promotion_code") or None,
                country=pages.form_value(form, "country") or None,
                tax_id=pages.form_value(form, "tax_id") or None,
            )
        except errors.StripeError as exc:
            status = 402 if exc.type == "card_error" else 400
            return HTMLResponse(pages.checkout_page(rt.state, s, exc.message), status)
    rt.persist()
    return RedirectResponse(target, status_code=303)


async def checkout_done(request: Request) -> Response:
    return HTMLResponse(pages.page("Checkout", "<p>Payment complete. You can close this page.</p>"))


# -- customer portal -------------------------------------------------------------------
def _portal_session(rt: Runtime, secret: str) -> tuple[Obj, Obj] | None:
    for s in rt.state.of("billing_portal.session"):
        if s["_secret"] == secret:
            customer = rt.state.get(s["customer"])
            if customer is not None:
                return s, customer
    return None


async def portal_get(request: Request) -> Response:
    rt = _rt(request)
    with rt.state.lock:
        found = _portal_session(rt, request.path_params["secret"])
        if found is None:
            return HTMLResponse(
                pages.page("Billing portal", "<p>This session has expired.</p>"), 404
            )
        return HTMLResponse(
            pages.portal_page(rt.state, *found, request.query_params.get("message"))
        )


def _back(request: Request, message: str) -> Response:
    from urllib.parse import quote

    url = f"/portal/session/{request.path_params['secret']}?message={quote(message)}"
    return RedirectResponse(url, status_code=303)


async def portal_cancel(request: Request) -> Response:
    rt = _rt(request)
    form = await request.form()
    with rt.state.lock:
        found = _portal_session(rt, request.path_params["secret"])
        if found is None:
            return HTMLResponse(pages.page("Billing portal", "<p>Session expired.</p>"), 404)
        _, customer = found
        sub = rt.state.get(pages.form_value(form, "subscription"))
        if sub is None or sub.get("customer") != customer["id"]:
            return HTMLResponse(pages.page("Billing portal", "<p>No such subscription.</p>"), 404)
        ctx = rt.ctx(str(request.base_url))
        at = ctx.now(sub.get("test_clock"))
        if pages.form_value(form, "mode") == "now":
            cancel_subscription(ctx, sub, at)
            message = "Subscription canceled."
        else:
            sub["cancel_at_period_end"] = True
            sub["canceled_at"] = at
            sub["cancel_at"] = sub["items"]["data"][0]["current_period_end"]
            ctx.emit(
                "customer.subscription.updated",
                sub,
                created=at,
                previous={"cancel_at_period_end": False, "canceled_at": None},
            )
            message = "Subscription will cancel at the end of the period."
    rt.persist()
    return _back(request, message)


async def portal_card(request: Request) -> Response:
    rt = _rt(request)
    form = await request.form()
    with rt.state.lock:
        found = _portal_session(rt, request.path_params["secret"])
        if found is None:
            return HTMLResponse(pages.page("Billing portal", "<p>Session expired.</p>"), 404)
        _, customer = found
        expiry = pages.parse_expiry(pages.form_value(form, "expiry"))
        if expiry is None:
            return _back(request, "Enter an expiry date as MM/YY.")
        ctx = rt.ctx(str(request.base_url))
        at = ctx.now(customer.get("test_clock"))
        from . import cards

        number = cards.normalize(pages.form_value(form, "card_number"))
        outcome = cards.on_attach(number)
        if outcome.status == "declined":
            return _back(request, str(outcome.message))
        try:
            pm = make_pm(ctx, number, expiry[0], expiry[1], at)
        except errors.StripeError as exc:
            return _back(request, exc.message)
        pm["customer"] = customer["id"]
        ctx.emit("payment_method.attached", pm, created=at)
        previous = {"invoice_settings": dict(customer["invoice_settings"])}
        customer["invoice_settings"]["default_payment_method"] = pm["id"]
        ctx.emit("customer.updated", customer, previous=previous, created=at)
        for sub in rt.state.of("subscription"):
            if sub["customer"] == customer["id"] and sub["status"] not in ("canceled",):
                sub["default_payment_method"] = pm["id"]
        paid = 0
        for inv in rt.state.of("invoice"):
            if inv["customer"] == customer["id"] and inv["status"] == "open":
                result = attempt_payment(ctx, inv, at, off_session=False, retries=False)
                paid += result == "paid"
                owner = subscription_of(ctx, inv)
                if owner is not None and owner["status"] != "canceled":
                    after_payment(ctx, owner, result, at)
    rt.persist()
    return _back(request, f"Card updated. {paid} open invoice(s) paid.")


async def invoice_get(request: Request) -> Response:
    rt = _rt(request)
    with rt.state.lock:
        inv = rt.state.get(request.path_params["iid"])
        if inv is None or inv.get("object") != "invoice":
            return HTMLResponse(pages.page("Invoice", "<p>No such invoice.</p>"), 404)
        return HTMLResponse(pages.invoice_page(inv))


def routes() -> list[Route]:
    return [
        Route("/checkout/pay/{sid}", checkout_get, methods=["GET"]),
        Route("/checkout/pay/{sid}", checkout_post, methods=["POST"]),
        Route("/checkout/done/{sid}", checkout_done, methods=["GET"]),
        Route("/portal/session/{secret}", portal_get, methods=["GET"]),
        Route("/portal/session/{secret}/cancel", portal_cancel, methods=["POST"]),
        Route("/portal/session/{secret}/card", portal_card, methods=["POST"]),
        Route("/invoice/{iid}", invoice_get, methods=["GET"]),
        *admin.routes(),
    ]
