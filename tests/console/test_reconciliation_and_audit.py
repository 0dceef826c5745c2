"""The audit log lists subscription state changes of the publisher's APIs only; the
reconciliation page says when there is nothing billed to compare yet."""

from __future__ import annotations

from typing import Any

from tests.support.rows import new_subscription, seed_world

PRICING = {"usage": {"meter": "requests", "model": "unit", "unit_amount": "0.01"}}


def test_audit_log_and_empty_reconciliation(
    ctx: Any, make_actor: Any, browser_for: Any, admin: Any
) -> None:
    pub = make_actor("publisher")
    world = seed_world(ctx.engine, PRICING)
    sub_id = new_subscription(ctx.engine, world, state="active")
    browser = browser_for(pub.email)
    browser.get(f"/console/subscribers/{sub_id}")
    browser.post(f"/console/subscribers/{sub_id}/block", {"reason": "card fraud suspected"})
    page = browser.get("/console/operations")
    log = page.text.split('id="audit-log"', 1)[1].split("</table>", 1)[0]
    assert "card fraud suspected" in log and 'data-state="blocked"' in log
    report = browser.get("/console/operations/reconciliation")
    assert report.status_code == 200
    assert "No billed subscription with metered usage yet." in report.text
    org = admin.post("/api/v1/organizations", json={"name": "D", "slug": "d-org"}).json()
    stranger = browser_for(make_actor("publisher", org["id"]).email)
    assert "card fraud suspected" not in stranger.get("/console/operations").text
