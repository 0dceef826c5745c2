from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.support.actors import Actor


def test_health_and_me(http: TestClient, admin: Actor) -> None:
    assert http.get("/healthz").json()["status"] == "ok"
    r = admin.get("/api/v1/users/me")
    assert r.status_code == 200 and r.json()["role"] == "admin"
    r = http.get("/api/v1/users/me")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


def test_publisher_and_consumer_roles(make_actor: Callable[..., Actor]) -> None:
    pub = make_actor("publisher")
    con = make_actor("consumer")
    r = pub.post("/api/v1/apis", json={"name": "A", "context": "a", "version": "v1"})
    assert r.status_code == 201, r.text
    r = con.post("/api/v1/apis", json={"name": "B", "context": "b", "version": "v1"})
    assert r.status_code == 403
