"""Usage alerts and notifications, end to end: alerts set through the REST API fire
exactly once per threshold and period; the notification worker delivers signed webhooks
to a real receiver on loopback (verified with the documented scheme) and email to a real
SMTP server (aiosmtpd); failures retry with back-off and a delivery can be replayed;
endpoints are SSRF-guarded; key and subscription events notify the consumer."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import pytest

from tests.support.catalog import Catalog
from tests.support.mail import Inbox, smtp_server
from tests.support.rows import World, insert_usage, new_subscription
from tests.support.servers import serve_handler
from tollway.domain.clock import FixedClock
from tollway.mail.smtp import SmtpMailer
from tollway.workers.notify import NotificationSender

UNIT = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.02"}}


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver: records each request; answers the next queued status (200)."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    answers: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        status = type(self).answers.pop(0) if type(self).answers else 200
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received, Receiver.answers = [], []
    with serve_handler(Receiver) as port:
        yield f"http://127.0.0.1:{port}/hooks"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    with smtp_server(box) as port:
        yield box, port


def verify(secret: str, header: str, body: bytes, tolerance_s: int = 300) -> bool:
    """The receiver's check, exactly as docs/spend-controls.md describes it."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    fresh = abs(time.time() - timestamp) <= tolerance_s
    return fresh and hmac.compare_digest(expected.hexdigest(), parts["v1"])


def _sender(ctx: Any, clock: FixedClock, smtp_port: int | None = None) -> NotificationSender:
    mailer = (
        SmtpMailer(host="127.0.0.1", port=smtp_port, sender="apis@example.com", starttls=False)
        if smtp_port
        else None
    )
    return NotificationSender(
        ctx.engine,
        ctx.secrets,
        mailer=mailer,
        brand_name="Acme APIs",
        ssrf_allow=["127.0.0.1/32"],
        clock=clock,
    )


def _world(cat: Catalog, pub: Any, con: Any, **plan: Any) -> World:
    api = cat.api(pub, "books")
    r = pub.post(
        "/api/v1/plans", json={"name": "Metered", "currency": "USD", "pricing": UNIT, **plan}
    )
    assert r.status_code == 201, r.text
    p = r.json()
    assert pub.put(f"/api/v1/apis/{api['id']}/plans/{p['id']}", json={"enabled": True}).is_success
    return World(p["organization_id"], "", con.id, api["id"], p["id"], cat.app(con)["id"])


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_quota_alerts_fire_once_per_threshold_by_webhook_and_email(
    ctx: Any, cat: Catalog, make_actor: Any, receiver: str, inbox: tuple[Inbox, int]
) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    w = _world(cat, pub, con, quota={"limit": 10, "mode": "hard"})
    sub = new_subscription(ctx.engine, w, state="active")
    r = con.post(
        "/api/v1/notification-endpoints", json={"url": receiver, "events": ["alert.triggered"]}
    )
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    assert secret.startswith("whsec_")
    r = con.post(
        f"/api/v1/subscriptions/{sub}/alerts", json={"metric": "quota", "thresholds": [100, 50, 80]}
    )
    assert r.status_code == 201, r.text
    assert r.json()["thresholds"] == [50, 80, 100]
    sender = _sender(ctx, FixedClock(datetime.now(UTC)), inbox[1])

    insert_usage(ctx.engine, w, sub, [_now_ms()] * 5)  # 50 %
    sender.run_once()
    sender.run_once()  # nothing new: each threshold fires once per period
    insert_usage(ctx.engine, w, sub, [_now_ms()] * 4)  # 90 %: 80 fires, 100 does not
    sender.run_once()
    insert_usage(ctx.engine, w, sub, [_now_ms()] * 3)  # 120 %
    sender.run_once()
    sender.run_once()

    fired = con.get(f"/api/v1/subscriptions/{sub}/alerts").json()[0]["fired"]
    assert [(f["threshold"], f["value"]) for f in fired] == [(50, "5"), (80, "9"), (100, "12")]
    bodies = [json.loads(body) for _, body in Receiver.received]
    assert [b["data"]["threshold"] for b in bodies] == [50, 80, 100]
    assert {b["type"] for b in bodies} == {"alert.triggered"}
    assert bodies[0]["data"]["value"] == "5 calls" and bodies[0]["data"]["limit"] == "10 calls"
    for headers, body in Receiver.received:
        assert verify(secret, headers["tollway-signature"], body)
        assert not verify("whsec_wrong", headers["tollway-signature"], body)
    subjects = [m["subject"] for m in inbox[0].messages]
    assert "[Acme APIs] 50 % of your quota used" in subjects
    assert sum("% of your quota used" in s for s in subjects) == 3
    assert all(m["to"] == con.email for m in inbox[0].messages if "quota" in m["subject"])
    deliveries = con.get("/api/v1/notification-deliveries").json()
    alert_deliveries = [d for d in deliveries if d["type"] == "alert.triggered"]
    assert {(d["channel"], d["status"]) for d in alert_deliveries} == {
        ("webhook", "delivered"),
        ("email", "delivered"),
    }
    assert len(alert_deliveries) == 6


def test_budget_alerts_use_the_priced_spend(
    ctx: Any, cat: Catalog, make_actor: Any, receiver: str
) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    w = _world(cat, pub, con)
    sub = new_subscription(ctx.engine, w, state="active")
    assert con.put(f"/api/v1/subscriptions/{sub}/budget", json={"amount": "0.10"}).is_success
    assert con.post("/api/v1/notification-endpoints", json={"url": receiver}).is_success
    r = con.post(
        f"/api/v1/subscriptions/{sub}/alerts", json={"metric": "budget", "thresholds": [50, 100]}
    )
    assert r.status_code == 201, r.text
    insert_usage(ctx.engine, w, sub, [_now_ms()] * 3)  # 0.06 of 0.10
    _sender(ctx, FixedClock(datetime.now(UTC))).run_once()
    alerts = [json.loads(b) for _, b in Receiver.received if b"alert.triggered" in b]
    assert [(a["data"]["threshold"], a["data"]["value"]) for a in alerts] == [(50, "0.06 USD")]


def test_failed_webhooks_back_off_then_deliver_and_can_be_replayed(
    ctx: Any, cat: Catalog, make_actor: Any, receiver: str
) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    w = _world(cat, pub, con)
    r = con.post(
        "/api/v1/notification-endpoints", json={"url": receiver, "events": ["key.created"]}
    )
    endpoint = r.json()
    Receiver.answers = [500, 503]
    key = con.post(
        f"/api/v1/applications/{w.app_id}/keys", json={"name": "ci", "environment": "production"}
    )
    assert key.status_code == 201, key.text
    clock = FixedClock(datetime.now(UTC))
    sender = _sender(ctx, clock)

    sender.run_once()
    [d] = con.get(f"/api/v1/notification-endpoints/{endpoint['id']}/deliveries").json()
    assert (d["status"], d["attempts"], d["last_status"]) == ("pending", 1, 500)
    sender.run_once()  # not due yet: no second attempt
    assert len(Receiver.received) == 1
    clock.advance(11)
    sender.run_once()
    clock.advance(61)
    sender.run_once()
    [d] = con.get(f"/api/v1/notification-endpoints/{endpoint['id']}/deliveries").json()
    assert (d["status"], d["attempts"], d["last_status"]) == ("delivered", 3, 200)
    ids = {json.loads(b)["id"] for _, b in Receiver.received}
    assert len(Receiver.received) == 3 and len(ids) == 1  # one event id on every attempt

    r = con.post(f"/api/v1/notification-deliveries/{d['id']}/replay")
    assert r.status_code == 200 and r.json()["status"] == "pending", r.text
    sender.run_once()
    assert len(Receiver.received) == 4
    body = json.loads(Receiver.received[-1][1])
    assert body["type"] == "key.created" and body["data"]["application_id"] == w.app_id


def test_endpoints_are_ssrf_guarded_validated_and_private(
    ctx: Any, cat: Catalog, make_actor: Any, receiver: str
) -> None:
    con, other = make_actor("consumer"), make_actor("consumer")
    for url in ("http://169.254.169.254/latest", "http://10.0.0.7/hook", "ftp://127.0.0.1/x"):
        r = con.post("/api/v1/notification-endpoints", json={"url": url})
        assert r.status_code == 422, (url, r.text)
        assert r.json()["errors"][0]["loc"] == ["url"], r.text
    r = con.post("/api/v1/notification-endpoints", json={"url": receiver, "events": ["bogus"]})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["events"], r.text
    endpoint = con.post("/api/v1/notification-endpoints", json={"url": receiver}).json()
    assert "secret" not in con.get("/api/v1/notification-endpoints").json()[0]
    assert (
        other.get(f"/api/v1/notification-endpoints/{endpoint['id']}/deliveries").status_code == 404
    )
    assert other.delete(f"/api/v1/notification-endpoints/{endpoint['id']}").status_code == 404
    assert con.delete(f"/api/v1/notification-endpoints/{endpoint['id']}").status_code == 204


def test_subscription_and_key_events_notify_the_consumer(
    ctx: Any, cat: Catalog, make_actor: Any
) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    w = _world(cat, pub, con)
    sub = new_subscription(ctx.engine, w, state="active")
    assert pub.post(f"/api/v1/subscriptions/{sub}/block", json={"reason": "abuse"}).is_success
    key = con.post(
        f"/api/v1/applications/{w.app_id}/keys", json={"name": "k", "environment": "production"}
    ).json()
    assert con.delete(f"/api/v1/applications/{w.app_id}/keys/{key['id']}").status_code in (200, 204)
    types = [n["type"] for n in con.get("/api/v1/notifications").json()]
    assert types == ["key.revoked", "key.created", "subscription.state_changed"]
    change = con.get("/api/v1/notifications").json()[2]["data"]
    assert (change["from_state"], change["to_state"], change["reason"]) == (
        "active",
        "blocked",
        "abuse",
    )
    assert pub.get("/api/v1/notifications").json() == []
