"""The ASGI app: Stripe's /v1 API, hosted pages and /_emulator test endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import errors, resources, web
from .context import real_now
from .forms import decode_pairs
from .ids import rand
from .lifecycle import run_due
from .router import router
from .runtime import Runtime
from .settings import EmulatorSettings
from .state import EmulatorState
from .webhooks import Deliverer

log = logging.getLogger(__name__)
#: Oldest idempotency records are forgotten past this many (Stripe keeps them 24 hours).
MAX_IDEMPOTENCY_RECORDS = 20_000
assert resources  # routes are registered on import

_NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization "
    "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
    "https://stripe.com/docs/api#authentication for details, or we can help at "
    "https://support.stripe.com/."
)


def _mask(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:]


def _api_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    if auth.lower().startswith("basic "):
        import base64

        with contextlib.suppress(ValueError):
            return base64.b64decode(auth[6:]).decode().split(":", 1)[0] or None
    return None


def _error(exc: errors.StripeError, request_id: str) -> JSONResponse:
    return JSONResponse(
        exc.body(request_id),
        status_code=exc.status,
        headers={"Request-Id": request_id, **exc.headers},
    )


#: Endpoints a publishable key may call, as Stripe.js does.
_PUBLISHABLE_OK = {("POST", "/v1/payment_methods")}


def _authorize(
    rt: Runtime, key: str | None, method: str, path: str, resource: str | None
) -> dict[str, Any]:
    if not key:
        raise errors.StripeError(401, _NO_KEY)
    info = rt.state.keys.get(key)
    if info is None:
        raise errors.StripeError(401, f"Invalid API Key provided: {_mask(key)}")
    account = info.get("account") or rt.state.account_id
    if info["type"] == "publishable" and (method, path) not in _PUBLISHABLE_OK:
        raise errors.StripeError(
            401,
            "This API call cannot be made with a publishable API key. Please use a secret "
            "API key. You can find a list of your API keys at "
            "https://dashboard.stripe.com/account/apikeys.",
        )
    if info["type"] == "restricted" and resource:
        perms = set(info["permissions"])
        needed = f"rak_{resource}_{'read' if method == 'GET' else 'write'}"
        if needed not in perms and f"rak_{resource}_write" not in perms:
            raise errors.StripeError(
                403,
                f"The provided key '{_mask(key)}' does not have the required permissions "
                f"for this endpoint on account '{account}'. Having the '{needed}' "
                "permission would allow this request to continue.",
            )
    return info


async def api(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    request_id = f"req_{rand(14)}"
    method, path = request.method, request.url.path
    try:
        with rt.state.lock:
            remaining = rt.state.switches.get("rate_limit")
            if remaining:
                rt.state.switches["rate_limit"] = remaining - 1 if remaining > 0 else remaining
                raise errors.StripeError(
                    429,
                    "Too many requests hit the API too quickly. We recommend an "
                    "exponential backoff of your requests.",
                    code="rate_limit",
                )
        key = _api_key(request)
        match = router.match(method, path)
        key_info = _authorize(rt, key, method, path, match[0].resource if match else None)
        assert key is not None
        if method == "POST":
            ctype = request.headers.get("content-type", "")
            if "json" in ctype:
                raise errors.bad(
                    None,
                    "Invalid request: the Stripe API expects "
                    "application/x-www-form-urlencoded parameters.",
                )
            body = (await request.body()).decode()
            pairs = parse_qsl(body, keep_blank_values=True)
        else:
            pairs = parse_qsl(request.url.query, keep_blank_values=True)
        if match is None:
            raise errors.StripeError(
                404,
                f"Unrecognized request URL ({method}: {path}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/.",
            )
        route, ids = match
        params = decode_pairs(pairs)
        idem = request.headers.get("idempotency-key") if method == "POST" else None
        headers = {
            "Request-Id": request_id,
            "Stripe-Version": request.headers.get("stripe-version") or rt.settings.api_version,
        }
        if idem:
            headers["Idempotency-Key"] = idem
            fingerprint = hashlib.sha256(
                json.dumps([method, path, sorted(pairs)]).encode()
            ).hexdigest()
            record_key = f"{key}|{idem}"
            with rt.state.lock:
                record = rt.state.idempotency.get(record_key)
            if record is not None:
                if record["fingerprint"] != fingerprint:
                    raise errors.StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{idem}' if you meant to execute a different request.",
                        type="idempotency_error",
                    )
                return JSONResponse(
                    record["body"],
                    status_code=record["status"],
                    headers={
                        **headers,
                        "Idempotent-Replayed": "true",
                        "Original-Request": record["request_id"],
                    },
                )
        ctx = rt.ctx(str(request.base_url), request_id=request_id, idempotency_key=idem)
        ctx.key = key
        ctx.account_id = key_info.get("account") or ""
        status, result = 200, None
        with rt.state.lock:
            try:
                result = route.handler(ctx, params, ids)
            except errors.StripeError as exc:
                status, result = exc.status, exc.body(request_id)
                headers.update(exc.headers)
            if idem and status < 500:
                rt.state.idempotency[f"{key}|{idem}"] = {
                    "fingerprint": fingerprint,
                    "status": status,
                    "body": result,
                    "request_id": request_id,
                }
                while len(rt.state.idempotency) > MAX_IDEMPOTENCY_RECORDS:
                    rt.state.idempotency.pop(next(iter(rt.state.idempotency)))
        if method != "GET":
            rt.persist()
        return JSONResponse(result, status_code=status, headers=headers)
    except errors.StripeError as exc:
        return _error(exc, request_id)
    except Exception:
        log.exception("emulator error on %s %s", method, path)
        return _error(
            errors.StripeError(500, "An unknown error occurred in the emulator.", type="api_error"),
            request_id,
        )


async def _ticker(rt: Runtime) -> None:
    """Process real-time due work: session expiry, renewals, invoice retries."""
    while True:
        await asyncio.sleep(rt.settings.tick_interval)
        try:
            with rt.state.lock:
                steps = run_due(rt.ctx(), None, real_now())
            if steps:
                rt.persist()
        except Exception:
            log.exception("emulator scheduler failed")


def create_app(
    state: EmulatorState | None = None, *, settings: EmulatorSettings | None = None
) -> Starlette:
    """Build the emulator app. Without ``state``, load ``settings.state_file`` if it exists."""
    settings = settings or EmulatorSettings()
    if state is None:
        path = settings.state_file
        state = (
            EmulatorState.load(path)
            if path is not None and path.exists()
            else (
                EmulatorState(account_id=settings.account_id)
                if settings.account_id
                else EmulatorState()
            )
        )
    state.ensure_default_keys(settings.secret_key, settings.publishable_key)
    rt = Runtime(state=state, settings=settings, deliverer=Deliverer(state, settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(rt.deliverer.run()), asyncio.create_task(_ticker(rt))]
        try:
            yield
        finally:
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
