"""Building blocks for end-to-end billing tests through the REST API: a Books upstream
on loopback, ``tollway gateway`` in its own process, connecting Stripe, publishing an
API with plans, a consumer who subscribes and pays in Checkout, and a pinnable clock for
the control plane (so that a plan change happens at the Stripe test clock's time)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import func, select

from stripe_emulator.testing import Emulator
from tests.support.rows import World
from tests.support.servers import free_port, serve_handler
from tests.support.waiting import wait_until
from tollway.store.tables import usage_events

from .helpers import customer_with_clock, pay_checkout

BOOKS_API = """
openapi: 3.0.3
info: {title: Books, version: "1.0"}
paths:
  /books:
    get:
      operationId: listBooks
      responses: {"200": {description: the books}}
"""


#: A hybrid plan (REST body): $20.00 a month plus $0.10 a call.
HYBRID = {
    "name": "Hybrid",
    "currency": "USD",
    "billing_interval": "month",
    "pricing": {
        "flat_fee": "20.00",
        "usage": {"meter": "requests", "model": "unit", "unit_amount": "0.10"},
    },
}


class PinnableClock:
    """The system clock, unless pinned to a moment (then it stands still there)."""

    def __init__(self) -> None:
        self.pinned: datetime | None = None

    def now(self) -> datetime:
        return self.pinned or datetime.now(UTC)

    def pin(self, epoch_s: int | None) -> None:
        self.pinned = None if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC)


class _Books(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps([{"id": "1", "title": "Dune"}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def books_upstream() -> Iterator[str]:
    with serve_handler(_Books) as port:
        yield f"http://127.0.0.1:{port}"


@contextmanager
def running_gateway(settings: Any) -> Iterator[str]:
    """``tollway gateway`` in its own process, on the same database and data directory."""
    port, admin_port = free_port(), free_port()
    env = {
        **os.environ,
        "TOLLWAY_DATABASE_URL": settings.resolved_database_url,
        "TOLLWAY_GATEWAY_PORT": str(port),
        "TOLLWAY_GATEWAY_ADMIN_PORT": str(admin_port),
        "TOLLWAY_SSRF_ALLOW": '["127.0.0.1/32"]',
    }
    env.pop("TOLLWAY_REDIS_URL", None)
    command = [sys.executable, "-c", "from tollway.cli import main; main()", "gateway"]
    proc = subprocess.Popen([*command, "--data-dir", str(settings.data_dir)], env=env)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            httpx.get(url + "/", timeout=1)
            return True
        except httpx.HTTPError:
            return proc.poll() is not None and pytest.fail("the gateway exited")

    try:
        wait_until(up, 90, "the gateway to listen")  # a loaded machine starts it slowly
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def connect_stripe(admin: Any, emu: Emulator, client: stripe.StripeClient, served: str) -> None:
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": f"{served}/webhooks/stripe", "enabled_events": ["*"]}
    )
    r = admin.put(
        "/api/v1/settings/stripe",
        json={
            "secret_key": emu.api_key,
            "publishable_key": emu.publishable_key,
            "webhook_secret": endpoint.secret,
        },
    )
    assert r.status_code == 200, r.text


def publish_api(pub: Any, upstream: str, context: str, plans: list[dict[str, Any]]) -> Any:
    """Import, deploy, create and enable ``plans`` (REST bodies), publish. Returns the
    API id and the plan ids, in order."""
    r = pub.post(
        "/api/v1/apis/import",
        params={"context": context, "version": "v1"},
        files={"file": ("books.yaml", BOOKS_API)},
    )
    assert r.status_code == 201, r.text
    api_id = r.json()["api"]["id"] if "api" in r.json() else r.json()["id"]
    for env_name in ("development", "production"):
        r = pub.put(
            f"/api/v1/apis/{api_id}/deployments/{env_name}", json={"upstream_url": upstream}
        )
        assert r.status_code == 200, r.text
    plan_ids = []
    for body in plans:
        r = pub.post("/api/v1/plans", json=body)
        assert r.status_code == 201, r.text
        plan_ids.append(r.json()["id"])
        r = pub.put(f"/api/v1/apis/{api_id}/plans/{plan_ids[-1]}", json={"enabled": True})
        assert r.status_code == 200, r.text
    r = pub.post(f"/api/v1/apis/{api_id}/lifecycle", json={"state": "published"})
    assert r.status_code == 200, r.text
    return api_id, plan_ids


@dataclass
class Consumer:
    auth: dict[str, str]
    sub_id: str
    key: str
    customer: str
    clock: str


def subscribe_and_pay(
    ctx: Any,
    http: Any,
    admin: Any,
    client: stripe.StripeClient,
    api_id: str,
    plan_id: str,
    frozen_time: int,
    checkout_fields: dict[str, str] | None = None,
    email: str = "reader@example.com",
) -> Consumer:
    """Sign up, subscribe, pay in Checkout (customer on a Stripe test clock frozen at
    ``frozen_time``; ``checkout_fields`` such as the billing country), get an API key."""
    r = http.post(
        "/api/v1/auth/signup",
        json={"email": email, "name": "Reader", "password": "correct horse battery"},
    )
    assert r.status_code == 201, r.text
    http.cookies.clear()
    auth = {"Authorization": f"Bearer {r.json()['token']}"}
    w = World("", admin.id, r.json()["user"]["id"], api_id, plan_id, "")
    clock, customer = customer_with_clock(client, ctx.engine, w, frozen_time)
    r = http.post("/api/v1/applications", json={"name": "reader-app"}, headers=auth)
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    r = http.post(
        "/api/v1/subscriptions",
        headers=auth,
        json={"application_id": app_id, "api_id": api_id, "plan_id": plan_id},
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    paid = pay_checkout(sub["checkout_url"], extra=checkout_fields)
    assert paid.status_code == 303
    assert httpx.get(paid.headers["location"]).status_code == 200
    state = http.get(f"/api/v1/subscriptions/{sub['id']}", headers=auth).json()["state"]
    assert state == "active"
    r = http.post(f"/api/v1/applications/{app_id}/keys", headers=auth, json={})
    assert r.status_code == 201, r.text
    return Consumer(auth, sub["id"], r.json()["key"], customer, clock)


def portal_page(http: Any, email: str, url: str) -> str:
    """``url`` of the portal, signed in as ``email`` (the password ``subscribe_and_pay``
    signs up with) on the client's cookie jar."""
    http.cookies.clear()
    page = http.get("/portal/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "no CSRF field on the sign-in page"
    data = {"csrf_token": token.group(1), "email": email, "password": "correct horse battery"}
    r = http.post("/portal/sign-in", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    answer = http.get(url)
    http.cookies.clear()
    assert answer.status_code == 200, answer.text
    return str(answer.text)


def metered(ctx: Any, sub_id: str) -> int:
    """Successful calls of the subscription in the ledger."""
    with ctx.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(usage_events)
                .where(usage_events.c.subscription_id == sub_id, usage_events.c.status == 200)
            ).scalar_one()
        )


def publish_usage(admin: Any) -> None:
    r = admin.post("/api/v1/monetization/publish-usage")
    assert r.status_code == 202, r.text
    wait_until(
        lambda: (
            admin.get("/api/v1/monetization/publish-usage/status").json()["state"] == "succeeded"
        ),
        30,
        "publish usage",
    )


def advance(client: stripe.StripeClient, clock: str, to: int) -> None:
    client.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": to})


def past(epoch_s: int) -> bool:
    """Whether the wall clock is past ``epoch_s`` (for ``wait_until``)."""
    return time.time() > epoch_s
