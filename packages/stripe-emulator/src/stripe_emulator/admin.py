"""The ``/_emulator`` endpoints (no key needed: the emulator listens on loopback only)
and the index page at ``/``."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from . import pages
from .ids import rand
from .resources.portal import save_default_configuration
from .runtime import Runtime

_PERMISSIONS_HELP = "permissions: a list such as ['rak_product_write', 'rak_customer_read']"


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def _json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:
        return {}
    data = json.loads(body)
    return data if isinstance(data, dict) else {}


async def admin_reset(request: Request) -> Response:
    _rt(request).reset()
    return JSONResponse({"reset": True})


async def admin_keys(request: Request) -> Response:
    rt = _rt(request)
    if request.method == "GET":
        with rt.state.lock:
            return JSONResponse(
                {
                    "account": rt.state.account_id,
                    "keys": [{"key": k, **v} for k, v in rt.state.keys.items()],
                }
            )
    data = await _json(request)
    perms = data.get("permissions", [])
    if isinstance(perms, dict):
        perms = [f"{k}_{v}" for k, v in perms.items()]
    if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
        return JSONResponse({"error": _PERMISSIONS_HELP}, 400)
    normalized = [p if p.startswith("rak_") else f"rak_{p}" for p in perms]
    kind = data.get("type", "restricted")
    prefix = {"restricted": "rk_test_", "secret": "sk_test_", "publishable": "pk_test_"}.get(kind)
    if prefix is None:
        return JSONResponse({"error": "type must be restricted, secret or publishable"}, 400)
    key = data.get("key") or f"{prefix}emu_{rand(24)}"
    if not str(key).startswith(prefix):
        return JSONResponse({"error": f"a {kind} key must start with {prefix}"}, 400)
    account = data.get("account") or rt.state.account_id
    if not str(account).startswith("acct_"):
        return JSONResponse({"error": "account must start with acct_"}, 400)
    info = {"type": kind, "permissions": normalized, "account": account, "added": True}
    with rt.state.lock:
        rt.state.keys[key] = info
    rt.persist()
    return JSONResponse({"key": key, **info}, 201)


#: Settings a test may change at run time; ``/_emulator/reset`` restores them.
TUNABLE = (
    "meter_event_delay_s",
    "meter_event_identifier_window_s",
    "invoice_finalization_grace_s",
    "idempotency_ttl_s",
    "rate_limit_per_s",
    "after_failed_retries",
    "tax_rates",
)


async def admin_settings(request: Request) -> Response:
    """Switches (``rate_limit``: answer the next N calls 429, ``true`` all, ``0`` none;
    ``fail_requests``: the next N calls fail with a 500) and the ``TUNABLE`` settings."""
    rt = _rt(request)
    if request.method == "POST":
        data = await _json(request)
        unknown = sorted(set(data) - {"rate_limit", "fail_requests", *TUNABLE})
        if unknown:
            return JSONResponse({"error": f"unknown settings: {', '.join(unknown)}"}, 400)
        with rt.state.lock:
            if "rate_limit" in data:
                value = data["rate_limit"]
                rt.state.switches["rate_limit"] = (
                    -1 if value is True else int(value) if value else 0
                )
            if "fail_requests" in data:
                rt.state.switches["fail_requests"] = int(data["fail_requests"] or 0)
            try:
                rt.tune({k: data[k] for k in TUNABLE if k in data})
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
    with rt.state.lock:
        return JSONResponse(
            {
                "switches": dict(rt.state.switches),
                **{k: getattr(rt.settings, k) for k in TUNABLE},
            }
        )


async def admin_deliver(request: Request) -> Response:
    counts = await _rt(request).deliverer.deliver_due(force=True)
    counts["pending"] = len(_rt(request).deliverer.pending())
    return JSONResponse(counts)


async def admin_webhooks(request: Request) -> Response:
    d = _rt(request).deliverer
    return JSONResponse({"pending": d.pending(), "log": list(d.log)})


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True, "emulator": "stripe", "development_tool": True})


async def admin_time(request: Request) -> Response:
    """The emulator's wall clock (idempotency expiry, meter-event processing, rate
    limits, customers without a test clock): ``{"advance": seconds}`` moves it forward,
    ``{"freeze": true}`` stops it (``false`` lets it run again from where it stands)."""
    rt = _rt(request)
    data = await _json(request)
    advance = data.get("advance", 0)
    if not isinstance(advance, int | float) or advance < 0:
        return JSONResponse({"error": "advance: a number of seconds, 0 or more"}, 400)
    with rt.state.lock:
        state = rt.state
        if "freeze" in data:
            now = state.wall_now()
            state.wall_frozen = now if data["freeze"] else None
            state.wall_offset = now - time.time()
        if state.wall_frozen is not None:
            state.wall_frozen += float(advance)
        state.wall_offset += float(advance)
        now = state.wall_now()
    rt.persist()
    return JSONResponse({"now": now, "offset": rt.state.wall_offset})


async def admin_portal_configuration(request: Request) -> Response:
    """What saving the customer-portal settings in Stripe's Dashboard does."""
    rt = _rt(request)
    with rt.state.lock:
        conf = save_default_configuration(rt.ctx(str(request.base_url)))
    rt.persist()
    if "json" in request.headers.get("accept", ""):
        return JSONResponse({"id": conf["id"], "is_default": True}, 201)
    return RedirectResponse("/?message=Customer+portal+settings+saved.", status_code=303)


async def index(request: Request) -> Response:
    rt = _rt(request)
    with rt.state.lock:
        body = pages.index_page(
            rt.state, rt.deliverer.pending(), request.query_params.get("message")
        )
    return HTMLResponse(body)


def routes() -> list[Route]:
    return [
        Route("/", index, methods=["GET"]),
        Route("/_emulator/health", health, methods=["GET"]),
        Route("/_emulator/reset", admin_reset, methods=["POST"]),
        Route("/_emulator/keys", admin_keys, methods=["GET", "POST"]),
        Route("/_emulator/settings", admin_settings, methods=["GET", "POST"]),
        Route("/_emulator/time", admin_time, methods=["POST"]),
        Route("/_emulator/portal_configuration", admin_portal_configuration, methods=["POST"]),
        Route("/_emulator/webhooks/deliver", admin_deliver, methods=["POST"]),
        Route("/_emulator/webhooks", admin_webhooks, methods=["GET"]),
    ]
