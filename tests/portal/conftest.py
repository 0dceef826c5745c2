"""A small published catalog for the portal's tests, made through the REST API: the
Reading List API (imported from its OpenAPI document) with a free plan and a graduated
pay-as-you-go plan, and a hidden API that is not published."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.support.actors import Actor

READING_LIST = Path(__file__).parents[2] / "src" / "tollway" / "demo" / "reading-list.yaml"
PAYG: dict[str, Any] = {
    "included_units": 1000,
    "usage": {
        "meter": "requests",
        "model": "graduated",
        "tiers": [
            {"up_to": 10000, "unit_amount": "0.002", "flat_amount": "0"},
            {"up_to": None, "unit_amount": "0.001", "flat_amount": "0"},
        ],
    },
}


@dataclass
class Shop:
    publisher: Actor
    api: dict[str, Any]
    hidden: dict[str, Any]
    free: dict[str, Any]
    payg: dict[str, Any]


@pytest.fixture
def shop(make_actor: Any) -> Shop:
    pub = make_actor("publisher")
    r = pub.post(
        "/api/v1/apis/import",
        params={"context": "books", "version": "v1"},
        files={"file": ("reading-list.yaml", READING_LIST.read_bytes())},
    )
    assert r.status_code == 201, r.text
    api = r.json()["api"] if "api" in r.json() else r.json()
    r = pub.put(
        f"/api/v1/apis/{api['id']}/deployments/production",
        json={"upstream_url": "http://127.0.0.1:9/"},
    )
    assert r.status_code == 200, r.text
    assert pub.post(f"/api/v1/apis/{api['id']}/lifecycle", json={"state": "published"}).is_success
    plans = []
    for name, pricing, extra in (
        ("Free", {}, {"quota": {"limit": 1000, "mode": "hard"}}),
        ("Pay as you go", PAYG, {"rate_limit": {"count": 20, "per": "second"}}),
    ):
        r = pub.post(
            "/api/v1/plans", json={"name": name, "currency": "USD", "pricing": pricing, **extra}
        )
        assert r.status_code == 201, r.text
        plan = r.json()
        r = pub.put(f"/api/v1/apis/{api['id']}/plans/{plan['id']}", json={"enabled": True})
        assert r.status_code == 200, r.text
        plans.append(plan)
    hidden = pub.post(
        "/api/v1/apis", json={"name": "Secret Stuff", "context": "secret", "version": "v1"}
    ).json()
    return Shop(pub, api, hidden, plans[0], plans[1])


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


PASSWORD = "correct horse battery"


def sign_up(http: TestClient, name: str) -> str:
    """A new consumer ``name`` signed up (and so signed in) through the portal's form, on
    a cookie jar of its own; returns the user's id."""
    http.cookies.clear()
    token = csrf_of(http.get("/portal/sign-up").text)
    r = http.post(
        "/portal/sign-up",
        data={
            "csrf_token": token,
            "name": name,
            "email": f"{name}@example.com",
            "password": PASSWORD,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return str(http.get("/api/v1/users/me").json()["id"])


def post_form(http: TestClient, page: str, url: str, data: dict[str, str]) -> Response:
    """Post ``data`` to ``url`` with the CSRF token of ``page``, as the page's form does."""
    token = csrf_of(http.get(page).text)
    answer: Response = http.post(url, data={"csrf_token": token, **data}, follow_redirects=False)
    return answer
