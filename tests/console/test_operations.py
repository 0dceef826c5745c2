"""Operations in the console: "publish now" runs the publish-usage job to its end;
webhook deliveries are listed with their outcome and a failed one can be replayed
(only the organization's own)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from tests.support.waiting import wait_until
from tollway.store import inbox_repo
from tollway.store.billing_tables import webhook_inbox
from tollway.store.tables import users


def _state(ctx: Any, event_id: str) -> str:
    with ctx.engine.connect() as conn:
        return str(
            conn.execute(
                select(webhook_inbox.c.state).where(webhook_inbox.c.event_id == event_id)
            ).scalar()
        )


def test_publish_now_and_replay_a_failed_webhook(
    ctx: Any, make_actor: Any, browser_for: Any, admin: Any
) -> None:
    pub = make_actor("publisher")
    browser = browser_for(pub.email)
    page = browser.get("/console/operations")
    assert "Usage has not been published by hand yet" in page.text
    assert browser.post("/console/operations/publish").status_code == 303

    def finished() -> bool:
        text = browser.get("/console/operations/publish", headers={"HX-Request": "true"}).text
        return "succeeded" in text

    wait_until(finished, timeout=20, what="the publish job to finish")
    with ctx.engine.connect() as conn:
        org_id = str(
            conn.execute(select(users.c.organization_id).where(users.c.id == pub.id)).scalar()
        )
    now = datetime.now(UTC)
    event = {"id": "evt_console_1", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}}
    inbox_repo.record(ctx.engine, event, org_id, now)
    inbox_repo.finish(ctx.engine, "evt_console_1", "retry", "Stripe unreachable", now, attempts=99)
    assert _state(ctx, "evt_console_1") == "failed"
    page = browser.get("/console/operations")
    assert "invoice.paid" in page.text and "Stripe unreachable" in page.text
    other_org = admin.post("/api/v1/organizations", json={"name": "C", "slug": "c-org"}).json()
    stranger = browser_for(make_actor("publisher", other_org["id"]).email)
    stranger.get("/console/operations")
    assert "evt_console_1" not in stranger.get("/console/operations").text
    assert stranger.post("/console/operations/webhooks/evt_console_1/replay").status_code == 404
    replayed = browser.post("/console/operations/webhooks/evt_console_1/replay")
    assert replayed.status_code == 303
    assert _state(ctx, "evt_console_1") != "failed"
