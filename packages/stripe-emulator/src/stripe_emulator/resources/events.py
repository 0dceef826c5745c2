"""Events and webhook endpoints."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .. import errors
from ..context import Ctx
from ..ids import new_id, rand
from ..netloc import is_loopback_url
from ..params import metadata, require, to_bool
from ..render import expand_list, paginate, render
from ..router import router
from ..state import Obj


def _check_url(ctx: Ctx, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.invalid("url", f"Invalid URL: {url}", code="url_invalid")
    if not ctx.settings.allow_remote and not is_loopback_url(url):
        raise errors.invalid(
            "url",
            "The Stripe emulator only delivers webhooks to loopback addresses "
            "(127.0.0.1, ::1, localhost); start it with --allow-remote to deliver elsewhere.",
            code="url_invalid",
        )


@router.post("/v1/webhook_endpoints", "webhook")
def create_endpoint(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    require(p, "url", "enabled_events")
    _check_url(ctx, p["url"])
    obj: Obj = {
        "id": new_id("we"),
        "object": "webhook_endpoint",
        "api_version": p.get("api_version") or None,
        "application": None,
        "created": ctx.now(),
        "description": p.get("description") or None,
        "enabled_events": list(p["enabled_events"]),
        "livemode": False,
        "metadata": metadata({}, p.get("metadata")),
        "status": "enabled",
        "url": p["url"],
        "_secret": f"whsec_{rand(32)}",
    }
    ctx.state.put(obj)
    out = render(ctx.state, obj, expand_list(p))
    out["secret"] = obj["_secret"]
    return out


@router.get("/v1/webhook_endpoints/{id}", "webhook")
def retrieve_endpoint(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return ctx.retrieve(p, ids[0], "webhook_endpoint", "webhook endpoint")


@router.post("/v1/webhook_endpoints/{id}", "webhook")
def update_endpoint(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    obj = ctx.fetch(ids[0], "webhook_endpoint", "webhook endpoint")
    if p.get("url"):
        _check_url(ctx, p["url"])
        obj["url"] = p["url"]
    if p.get("enabled_events"):
        obj["enabled_events"] = list(p["enabled_events"])
    if "description" in p:
        obj["description"] = p["description"] or None
    if "disabled" in p:
        obj["status"] = "disabled" if to_bool(p["disabled"], "disabled") else "enabled"
    obj["metadata"] = metadata(obj["metadata"], p.get("metadata"))
    return render(ctx.state, obj, expand_list(p))


@router.delete("/v1/webhook_endpoints/{id}", "webhook")
def delete_endpoint(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    obj = ctx.fetch(ids[0], "webhook_endpoint", "webhook endpoint")
    del ctx.state.objects[obj["id"]]
    ctx.state.deliveries[:] = [d for d in ctx.state.deliveries if d["endpoint"] != obj["id"]]
    return {"id": obj["id"], "object": "webhook_endpoint", "deleted": True}


@router.get("/v1/webhook_endpoints", "webhook")
def list_endpoints(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    return paginate(ctx.state, ctx.state.of("webhook_endpoint"), p, "/v1/webhook_endpoints")


@router.get("/v1/events/{id}", "event")
def retrieve_event(ctx: Ctx, p: dict[str, Any], ids: list[str]) -> Obj:
    return ctx.retrieve(p, ids[0], "event", "event")


@router.get("/v1/events", "event")
def list_events(ctx: Ctx, p: dict[str, Any], _: list[str]) -> Obj:
    items = ctx.state.of("event")
    if p.get("type"):
        pattern = str(p["type"])
        if pattern.endswith("*"):
            items = [e for e in items if e["type"].startswith(pattern[:-1])]
        else:
            items = [e for e in items if e["type"] == pattern]
    if p.get("types"):
        items = [e for e in items if e["type"] in p["types"]]
    created = p.get("created")
    if isinstance(created, dict):
        for op, fn in (
            ("gt", int.__gt__),
            ("gte", int.__ge__),
            ("lt", int.__lt__),
            ("lte", int.__le__),
        ):
            if created.get(op):
                bound = int(created[op])
                items = [e for e in items if fn(int(e["created"]), bound)]
    return paginate(ctx.state, items, p, "/v1/events")
