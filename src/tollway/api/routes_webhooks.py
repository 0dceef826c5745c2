"""The Stripe webhook endpoint: verify on the raw body, store in the inbox, answer."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tollway.domain.errors import BadRequest
from tollway.http.deps import get_ctx
from tollway.services import billing

router = APIRouter(tags=["billing"])

#: Stripe events are far smaller; anything bigger is refused before it is verified.
MAX_WEBHOOK_BYTES = 1024 * 1024


@router.post("/webhooks/stripe", include_in_schema=False)
async def stripe_webhook(request: Request, background: BackgroundTasks) -> JSONResponse:
    """Verify on the raw body, store in the inbox (keyed by event id, committed before
    the 200), apply in the background (and by the webhook worker if that fails)."""
    ctx = get_ctx(request)
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_WEBHOOK_BYTES):
        return JSONResponse({"error": "payload too large or malformed"}, status_code=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # a chunked body is read with a running limit
        size += len(chunk)
        if size > MAX_WEBHOOK_BYTES:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        chunks.append(chunk)
    signature = request.headers.get("stripe-signature")
    try:
        received = await run_in_threadpool(
            billing.receive_webhook, ctx, b"".join(chunks), signature
        )
    except BadRequest as exc:
        return JSONResponse({"error": exc.detail}, status_code=400)
    if received.new:
        background.add_task(billing.apply_webhook, ctx, received.event_id)
    return JSONResponse({"received": True, "duplicate": not received.new})
