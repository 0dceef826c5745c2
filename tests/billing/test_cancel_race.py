"""Calls racing a cancel through a real ``tollway gateway`` process: every call the
consumer got a 2xx for is on the final invoice. Access ends at every gateway (each one
acknowledges only once what it admitted before is in the ledger) before the final usage
push is cut."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import func, select

from stripe_emulator.testing import Emulator
from tests.support.waiting import wait_until
from tollway.store.billing_tables import billing_subscriptions, gateway_instances
from tollway.store.tables import usage_events

from .helpers import pay_checkout, store_keys
from .test_walkthrough import READING_LIST

pytestmark = pytest.mark.usefixtures("realistic_delays")


class _Caller(threading.Thread):
    """Calls the API in a loop until stopped; counts what it got."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(daemon=True)
        self.url, self.key = url, key
        self.ok = self.refused = self.other = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(headers={"apikey": self.key}, timeout=10) as client:
            while not self.stop.is_set():
                status = client.get(self.url).status_code
                if 200 <= status < 300:
                    self.ok += 1
                elif status == 403:
                    self.refused += 1
                else:
                    self.other += 1


def _setup(ctx: Any, emu: Emulator, admin: Any, http: Any, upstream: str) -> tuple[str, str, str]:
    """A paid, active subscription on a deployed API; (subscription, API key, context)."""
    from tests.support.rows import World

    pub = admin
    r = pub.post(
        "/api/v1/apis/import",
        params={"context": "race", "version": "v1"},
        files={"file": ("race.yaml", READING_LIST)},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    api_id = body["api"]["id"] if "api" in body else body["id"]
    with ctx.engine.connect() as conn:
        from tollway.store.tables import apis

        org = conn.execute(select(apis.c.organization_id).where(apis.c.id == api_id)).scalar()
    store_keys(ctx, World(org, admin.id, "", api_id, "", ""), emu)
    r = pub.put(f"/api/v1/apis/{api_id}/deployments/production", json={"upstream_url": upstream})
    assert r.status_code == 200, r.text
    r = pub.post(
        "/api/v1/plans",
        json={
            "name": "Metered",
            "currency": "USD",
            "billing_interval": "month",
            "pricing": {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}},
        },
    )
    assert r.status_code == 201, r.text
    plan_id = r.json()["id"]
    assert pub.put(f"/api/v1/apis/{api_id}/plans/{plan_id}", json={"enabled": True}).is_success
    assert pub.post(f"/api/v1/apis/{api_id}/lifecycle", json={"state": "published"}).is_success
    r = http.post(
        "/api/v1/auth/signup",
        json={"email": "racer@example.com", "name": "Racer", "password": "correct horse battery"},
    )
    assert r.status_code == 201, r.text
    http.cookies.clear()
    auth = {"Authorization": f"Bearer {r.json()['token']}"}
    app_id = http.post("/api/v1/applications", json={"name": "r"}, headers=auth).json()["id"]
    r = http.post(
        "/api/v1/subscriptions",
        headers=auth,
        json={"application_id": app_id, "api_id": api_id, "plan_id": plan_id},
    )
    assert r.status_code == 201, r.text
    sub = r.json()["id"]
    assert pay_checkout(r.json()["checkout_url"]).status_code == 303
    with ctx.engine.connect() as conn:
        session = conn.execute(
            select(billing_subscriptions.c.checkout_session_id).where(
                billing_subscriptions.c.subscription_id == sub
            )
        ).scalar()
    assert ctx.billing.service.activate_from_checkout(session) is True
    r = http.post(f"/api/v1/applications/{app_id}/keys", headers=auth, json={})
    assert r.status_code == 201, r.text
    return sub, r.json()["key"], "race"


def test_every_2xx_racing_the_cancel_is_invoiced(
    ctx: Any,
    emu: Emulator,
    admin: Any,
    http: Any,
    upstream: str,
    gateway: str,
    stripe_client: stripe.StripeClient,
) -> None:
    sub, key, context = _setup(ctx, emu, admin, http, upstream)
    url = f"{gateway}/{context}/v1/books"
    wait_until(
        lambda: httpx.get(url, headers={"apikey": key}).status_code == 200,
        15,
        "the gateway to know the subscription",
    )  # one 2xx (the probes before it were refused)
    with ctx.engine.connect() as conn:  # the gateway has said which configuration it serves
        assert conn.execute(select(func.count()).select_from(gateway_instances)).scalar() == 1
    callers = [_Caller(url, key) for _ in range(4)]
    for c in callers:
        c.start()
    try:
        wait_until(lambda: sum(c.ok for c in callers) >= 40, 30, "calls to be served")
        r = admin.post(f"/api/v1/subscriptions/{sub}/cancel", json={})
        assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
        # the gateway refuses from the moment access ended (before the cancel returned)
        wait_until(lambda: all(c.refused for c in callers), 15, "every caller to be refused")
    finally:
        for c in callers:
            c.stop.set()
        for c in callers:
            c.join(timeout=15)
    served = 1 + sum(c.ok for c in callers)
    assert served >= 41 and sum(c.other for c in callers) == 0

    def ledger() -> int:
        with ctx.engine.connect() as conn:
            n = conn.execute(
                select(func.count())
                .select_from(usage_events)
                .where(usage_events.c.subscription_id == sub, usage_events.c.status == 200)
            ).scalar()
        return int(n or 0)

    assert ledger() == served  # nothing served after the final push was cut
    with ctx.engine.connect() as conn:
        customer = conn.execute(
            select(billing_subscriptions.c.customer_id).where(
                billing_subscriptions.c.subscription_id == sub
            )
        ).scalar()
    invoices = stripe_client.v1.invoices.list(params={"customer": customer}).data
    final = [i for i in invoices if i.billing_reason == "subscription_cycle" or i.total > 0]
    assert [i.total for i in final] == [served * 2], [(i.billing_reason, i.total) for i in invoices]
