"""The ASGI app: Stripe's /v1 API, hosted pages and /_emulator test endpoints.

A /v1 request goes through the steps Stripe applies, in Stripe's order: ``Stripe-Account``
and ``Stripe-Version`` headers, the API key and its permissions, the rate limit, the
idempotency key, the parameters (rules generated from the SDK), then the endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import errors, resources, web
from .auth import api_key_of, authorize
from .forms import decode_pairs
from .idempotency import Idempotency
from .ids import rand
from .lifecycle import run_due
from .ratelimit import RateLimiter
from .router import router
from .runtime import Runtime
from .schema_gen import route_key
from .settings import EmulatorSettings
from .state import EmulatorState
from .validation import validate
from .webhooks import Deliverer

log = logging.getLogger(__name__)
assert resources  # routes are registered on import

_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")


def _error(exc: errors.StripeError, request_id: str) -> JSONResponse:
    return JSONResponse(
        exc.body(request_id),
        status_code=exc.status,
        headers={"Request-Id": request_id, **exc.headers},
    )


def _check_headers(rt: Runtime, request: Request, key: str | None) -> None:
    account = request.headers.get("stripe-account")
    if account:
        masked = errors.mask(key or "")
        raise errors.StripeError(
            403,
            f"The provided key '{masked}' does not have access to account '{account}' (or "
            "that account does not exist). Application access may have been revoked. "
            "(The Stripe emulator does not emulate Connect: requests with a Stripe-Account "
            "header are refused.)",
            code="account_invalid",
        )
    version = request.headers.get("stripe-version")
    if version and version != rt.settings.api_version:
        if not _VERSION.match(version):
            raise errors.bad(None, f"Invalid Stripe API version: {version}")
        raise errors.bad(
            None,
            f"Stripe-Version {version} is not served by this emulator: it speaks only "
            f"{rt.settings.api_version} (the version of the SDK its rules come from).",
        )


def _forced_429(rt: Runtime) -> None:
    """The ``rate_limit`` switch of /_emulator/settings: answer the next N calls 429."""
    remaining = rt.state.switches.get("rate_limit")
    if remaining:
        rt.state.switches["rate_limit"] = remaining - 1 if remaining > 0 else remaining
        raise errors.rate_limited()


def _forced_500(rt: Runtime) -> None:
    """The ``fail_requests`` switch: the next N requests fail inside the endpoint."""
    remaining = rt.state.switches.get("fail_requests")
    if remaining:
        rt.state.switches["fail_requests"] = remaining - 1
        raise RuntimeError("failure requested through /_emulator/settings")


async def _params(request: Request) -> list[tuple[str, str]]:
    if request.method != "POST":
        return parse_qsl(request.url.query, keep_blank_values=True)
    if "json" in request.headers.get("content-type", ""):
        raise errors.bad(
            None,
            "Invalid request: the Stripe API expects application/x-www-form-urlencoded parameters.",
        )
    return parse_qsl((await request.body()).decode(), keep_blank_values=True)


async def api(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    request_id = f"req_{rand(14)}"
    method, path = request.method, request.url.path
    headers = {"Request-Id": request_id, "Stripe-Version": rt.settings.api_version}
    try:
        key = api_key_of(request)
        _check_headers(rt, request, key)
        match = router.match(method, path)
        with rt.state.lock:
            _forced_429(rt)
            info = authorize(rt, key, method, path, match[0].resource if match else None)
            rt.limiter.admit(info.get("account") or rt.state.account_id, method)
        pairs = await _params(request)
        if match is None:
            raise errors.StripeError(
                404,
                f"Unrecognized request URL ({method}: {path}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/.",
            )
        route, ids = match
        idem = rt.idempotency.key_of(request) if method == "POST" else None
        if idem:
            headers["Idempotency-Key"] = idem
            replay = rt.idempotency.replay(str(key), idem, method, path, pairs)
            if replay is not None:
                return JSONResponse(
                    replay.body, replay.status, headers={**headers, **replay.headers}
                )
        params = decode_pairs(pairs)
        validate(route_key(method, route.pattern), params)
        ctx = rt.ctx(str(request.base_url), request_id=request_id, idempotency_key=idem)
        ctx.key = str(key)
        ctx.account_id = info.get("account") or ""
        with rt.state.lock:
            try:
                _forced_500(rt)
                status, result = 200, route.handler(ctx, params, ids)
            except errors.StripeError as exc:
                status, result = exc.status, exc.body(request_id)
                headers.update(exc.headers)
            except Exception:
                log.exception("emulator error on %s %s", method, path)
                status, result = 500, errors.internal().body(request_id)
            if idem:
                rt.idempotency.save(str(key), idem, method, path, pairs, status, result, request_id)
        if method != "GET":
            rt.persist()
        return JSONResponse(result, status_code=status, headers=headers)
    except errors.StripeError as exc:
        return _error(exc, request_id)
    except Exception:
        log.exception("emulator error on %s %s", method, path)
        return _error(errors.internal(), request_id)


async def _ticker(rt: Runtime) -> None:
    """Process real-time due work: session expiry, renewals, drafts, invoice retries."""
    while True:
        await asyncio.sleep(rt.settings.tick_interval)
        try:
            with rt.state.lock:
                steps = run_due(rt.ctx(), None, int(rt.state.wall_now()))
            if steps:
                rt.persist()
        except Exception:
            log.exception("emulator scheduler failed")


def _initial_state(settings: EmulatorSettings) -> EmulatorState:
    path = settings.state_file
    if path is not None and path.exists():
        return EmulatorState.load(path)
    if settings.account_id:
        return EmulatorState(account_id=settings.account_id)
    return EmulatorState()


def create_app(
    state: EmulatorState | None = None, *, settings: EmulatorSettings | None = None
) -> Starlette:
    """Build the emulator app. Without ``state``, load ``settings.state_file`` if it exists.

    Webhook delivery and the real-time scheduler run as the app's lifespan tasks: serve it
    with lifespan on (uvicorn's default) or nothing is delivered on its own.
    """
    settings = settings or EmulatorSettings()
    state = state if state is not None else _initial_state(settings)
    rt = Runtime(
        state=state,
        settings=settings,
        deliverer=Deliverer(state, settings),
        idempotency=Idempotency(state, settings),
        limiter=RateLimiter(state, settings),
    )
    rt.prepare()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(rt.deliverer.run()), asyncio.create_task(_ticker(rt))]
        rt.background = True
        try:
            yield
        finally:
            rt.background = False
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            rt.persist()

    methods = ["GET", "POST", "DELETE"]
    app = Starlette(
        routes=[*web.routes(), Route("/v1/{rest:path}", api, methods=methods)],
        lifespan=lifespan,
    )
    app.state.runtime = rt
    return app


def runtime_of(app: Any) -> Runtime:
    rt: Runtime = app.state.runtime
    return rt
