"""Focused portal checks in the browser: readable at 375 px without sideways scrolling,
form errors next to the field, keyboard use, and the pages a journey does not reach."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tollway.services.sessions import create_token
from tollway.store import users_repo

from .harness import PHONE, LiveServer, Shoot

pytestmark = pytest.mark.browser

READING_LIST = Path(__file__).parents[2] / "src" / "tollway" / "demo" / "reading-list.yaml"
FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"


def _publish(live_server: LiveServer) -> str:
    ctx = live_server.ctx
    now = ctx.clock.now()
    with ctx.tx() as conn:
        org = users_repo.ensure_default_org(conn, now)
        user = users_repo.create_user(
            conn,
            email="pub@example.com",
            name="Pub",
            role="publisher",
            password=None,
            organization_id=org,
            now=now,
        )
        token = create_token(conn, user["id"], name="t", kind="personal", now=now).raw
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=live_server.url, headers=auth, trust_env=False) as http:
        api = http.post(
            "/api/v1/apis/import",
            params={"context": "reading-list", "version": "v1"},
            files={"file": ("reading-list.yaml", READING_LIST.read_bytes())},
        ).json()
        api_id = str(api["id"])
        http.put(
            f"/api/v1/apis/{api_id}/deployments/production",
            json={"upstream_url": "http://127.0.0.1:9/"},
        ).raise_for_status()
        tiers = [
            {"up_to": 10000, "unit_amount": "0.002", "flat_amount": "0"},
            {"up_to": None, "unit_amount": "0.001", "flat_amount": "0"},
        ]
        for name, pricing in (
            ("Free", {}),
            (
                "Growth",
                {
                    "flat_fee": "19.00",
                    "included_units": 1000,
                    "usage": {"meter": "requests", "model": "graduated", "tiers": tiers},
                },
            ),
        ):
            plan = http.post(
                "/api/v1/plans",
                json={
                    "name": name,
                    "currency": "USD",
                    "pricing": pricing,
                    "quota": {"limit": 5000, "mode": "hard"},
                },
            ).json()
            http.put(f"/api/v1/apis/{api_id}/plans/{plan['id']}", json={"enabled": True})
        http.post(f"/api/v1/apis/{api_id}/lifecycle", json={"state": "published"})
    return api_id


def test_portal_pages_fit_a_phone_and_forms_show_errors_by_the_field(
    page: Page, live_server: LiveServer, shoot: Shoot
) -> None:
    api_id = _publish(live_server)
    page.set_viewport_size(PHONE)
    for path in ("/portal/apis", f"/portal/apis/{api_id}", "/portal/sign-up"):
        page.goto(path)
        assert page.evaluate(FITS), f"{path} scrolls sideways at 375 px"

    page.get_by_label("Your name").fill("Ann")
    page.get_by_label("Email").fill("ann@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#f-password-error")).to_contain_text("at least 12 characters")
    expect(page.locator(".error-summary")).to_be_focused()
    shoot(page, "portal/sign-up-errors")
    page.get_by_label("Password").fill("a long enough passphrase")
    page.get_by_label("Password").press("Enter")  # the keyboard submits the form
    expect(page.locator(".flashes")).to_contain_text("Welcome, Ann!")
    page.goto("/portal/apps")
    page.get_by_label("Application name").fill("Phone app")
    page.get_by_role("button", name="Create application").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Phone app")
    assert page.evaluate(FITS), "the application page scrolls sideways at 375 px"
    page.goto("/portal/billing")
    assert page.evaluate(FITS), "the billing page scrolls sideways at 375 px"
    page.goto("/portal/apps/app_not_mine")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    page.goto("/portal/reset-password")
    shoot(page, "portal/reset-password")
