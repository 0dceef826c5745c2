"""Authorization on every object, proven with two real users per role."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tollway.services.sessions import create_token
from tollway.store.tables import api_tokens


def _two_consumers_with_everything(cat: Any, make_actor: Any) -> tuple[Any, Any, dict[str, Any]]:
    pub = make_actor("publisher")
    api = cat.api(pub, "books")
    plan = cat.plan(pub, "Free", api_id=api["id"])
    a, b = make_actor("consumer"), make_actor("consumer")
    app_b = cat.app(b, "b app")
    key_b = b.post(f"/api/v1/applications/{app_b['id']}/keys", json={}).json()
    client_b = b.post(f"/api/v1/applications/{app_b['id']}/oauth-clients", json={}).json()
    sub_b = cat.subscribe(b, app_b["id"], api["id"], plan["id"])
    assert sub_b.status_code == 201, sub_b.text
    objs = {
        "app": app_b,
        "key": key_b,
        "client": client_b,
        "sub": sub_b.json(),
        "api": api,
        "plan": plan,
    }
    return a, b, objs


def test_consumer_cannot_reach_another_consumers_objects(cat: Any, make_actor: Any) -> None:
    a, b, o = _two_consumers_with_everything(cat, make_actor)
    app_id, sub_id = o["app"]["id"], o["sub"]["id"]
    base = f"/api/v1/applications/{app_id}"
    attempts = [
        a.get(base),
        a.patch(base, json={"name": "stolen"}),
        a.get(f"{base}/keys"),
        a.post(f"{base}/keys", json={}),
        a.delete(f"{base}/keys/{o['key']['id']}"),
        a.get(f"{base}/oauth-clients"),
        a.post(f"{base}/oauth-clients", json={}),
        a.delete(f"{base}/oauth-clients/{o['client']['id']}"),
        a.get(f"/api/v1/subscriptions/{sub_id}"),
        a.get(f"/api/v1/subscriptions/{sub_id}/events"),
        a.post(f"/api/v1/subscriptions/{sub_id}/cancel", json={}),
        # subscribing B's application from A's account
        a.post(
            "/api/v1/subscriptions",
            json={"application_id": app_id, "api_id": o["api"]["id"], "plan_id": o["plan"]["id"]},
        ),
    ]
    for r in attempts:
        assert r.status_code == 404, (r.request.method, r.request.url, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    # A's lists don't leak B's objects
    assert a.get("/api/v1/applications").json()["data"] == []
    assert a.get("/api/v1/subscriptions").json()["data"] == []
    # B still has everything, unchanged
    assert b.get(base).json()["name"] == "b app"
    keys = b.get(f"{base}/keys").json()
    assert [k["revoked_at"] for k in keys] == [None]
    assert b.get(f"{base}/oauth-clients").json()[0]["revoked_at"] is None
    assert b.get(f"/api/v1/subscriptions/{sub_id}").json()["state"] == "active"
    # A publisher or consumer block/unblock on a consumer: consumers cannot manage at all
    assert b.post(f"/api/v1/subscriptions/{sub_id}/block", json={}).status_code == 403


def test_publisher_cannot_reach_another_orgs_objects(cat: Any, make_actor: Any) -> None:
    x, y = cat.org("org-x"), cat.org("org-y")
    pub_x, pub_y = make_actor("publisher", x), make_actor("publisher", y)
    pub_y2 = make_actor("publisher", y)
    api_y = cat.api(pub_y, "weather")
    plan_y = cat.plan(pub_y, "Free", api_id=api_y["id"])
    con = make_actor("consumer")
    app = cat.app(con)
    sub = cat.subscribe(con, app["id"], api_y["id"], plan_y["id"])
    assert sub.status_code == 201, sub.text
    sub_id = sub.json()["id"]
    api_path, plan_path = f"/api/v1/apis/{api_y['id']}", f"/api/v1/plans/{plan_y['id']}"
    attempts = [
        pub_x.patch(api_path, json={"name": "mine"}),
        pub_x.put(
            f"{api_path}/deployments/production", json={"upstream_url": "http://127.0.0.1:8/"}
        ),
        pub_x.delete(f"{api_path}/deployments/production"),
        pub_x.post(f"{api_path}/lifecycle", json={"state": "deprecated"}),
        pub_x.put(f"{api_path}/plans/{plan_y['id']}", json={"enabled": False}),
        pub_x.get(plan_path),
        pub_x.patch(plan_path, json={"name": "mine"}),
        pub_x.delete(plan_path),
        pub_x.post(f"{plan_path}/retire"),
        pub_x.get(f"/api/v1/subscriptions/{sub_id}"),
        pub_x.get(f"/api/v1/subscriptions/{sub_id}/events"),
        pub_x.post(f"/api/v1/subscriptions/{sub_id}/block", json={}),
        pub_x.post(f"/api/v1/subscriptions/{sub_id}/cancel", json={}),
    ]
    for r in attempts:
        assert r.status_code == 404, (r.request.method, r.request.url, r.status_code, r.text)
    # X's own plan cannot be put on Y's API either (neither side leaks)
    plan_x = cat.plan(pub_x, "X plan")
    r = pub_x.put(f"{api_path}/plans/{plan_x['id']}", json={"enabled": True})
    assert r.status_code == 404
    assert pub_x.get("/api/v1/plans").json()["data"] == [plan_x]
    assert pub_x.get("/api/v1/subscriptions").json()["data"] == []
    assert [a["id"] for a in pub_x.get("/api/v1/apis").json()["data"]] == []
    # nothing changed; a second publisher of Y can manage it
    assert pub_y2.get(api_path).json()["name"] == "Weather"
    assert pub_y2.get(f"/api/v1/subscriptions/{sub_id}").json()["state"] == "active"
    r = pub_y2.post(f"/api/v1/subscriptions/{sub_id}/block", json={"reason": "abuse"})
    assert r.status_code == 200 and r.json()["state"] == "blocked"


@pytest.mark.parametrize("role", ["publisher", "consumer"])
def test_admin_routes_refuse_others(make_actor: Any, role: str) -> None:
    actor = make_actor(role)
    user = {
        "email": "x@example.com",
        "name": "X",
        "password": "correct horse battery",
        "role": "admin",
    }
    for r in (
        actor.post("/api/v1/users", json=user),
        actor.get("/api/v1/users"),
        actor.post("/api/v1/organizations", json={"name": "O", "slug": "o"}),
        actor.get("/api/v1/organizations"),
    ):
        assert r.status_code == 403, (r.request.url, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_consumer_cannot_see_another_user(make_actor: Any) -> None:
    a, b = make_actor("consumer"), make_actor("consumer")
    assert a.get(f"/api/v1/users/{b.id}").status_code == 404
    assert a.get(f"/api/v1/users/{a.id}").json()["email"] == a.email


def test_missing_and_bad_tokens_are_401(http: Any, admin: Any) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer twt_nope"},
        {"Authorization": "Bearer junk"},
        {"Authorization": "Basic YTpi"},
        {"Authorization": "Bearer "},
    ):
        r = http.get("/api/v1/applications", headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["status"] == 401
    r = http.post(
        "/api/v1/users",
        json={
            "email": "a@example.com",
            "name": "a",
            "password": "correct horse battery",
            "role": "admin",
        },
    )
    assert r.status_code == 401
    assert (
        http.post("/api/v1/auth/login", json={"email": admin.email, "password": "x"}).status_code
        == 401
    )


def test_expired_and_revoked_tokens_are_401(ctx: Any, http: Any, admin: Any) -> None:
    now = ctx.clock.now()
    with ctx.tx() as conn:
        expired = create_token(
            conn,
            admin.id,
            name="old",
            kind="session",
            now=now - timedelta(hours=2),
            lifetime=timedelta(hours=1),
        )
        revoked = create_token(conn, admin.id, name="gone", kind="personal", now=now)
        conn.execute(
            api_tokens.update().where(api_tokens.c.id == revoked.id).values(revoked_at=now)
        )
    for raw in (expired.raw, revoked.raw):
        r = http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {raw}"})
        assert r.status_code == 401
        assert "www-authenticate" in r.headers


def test_logout_ends_sessions_but_not_personal_tokens(ctx: Any, make_actor: Any) -> None:
    con = make_actor("consumer")
    personal = con.post("/api/v1/users/me/tokens", json={"name": "ci"})
    assert personal.status_code == 201
    raw_personal = personal.json()["token"]
    assert con.get("/api/v1/users/me").status_code == 200
    assert con.post("/api/v1/auth/logout").status_code == 204
    assert con.get("/api/v1/users/me").status_code == 401
    r = con.get("/api/v1/users/me", headers={"Authorization": f"Bearer {raw_personal}"})
    assert r.status_code == 200 and r.json()["id"] == con.id
    with ctx.engine.connect() as conn:
        stored = conn.execute(select(api_tokens.c.token_hash)).scalars().all()
    assert raw_personal not in stored and con.token not in stored


def test_cookie_session_needs_csrf_header_for_changes(http: Any, make_actor: Any) -> None:
    con = make_actor("consumer")
    http.cookies.set("tollway_session", con.token)
    try:
        assert http.get("/api/v1/users/me").status_code == 200
        assert http.post("/api/v1/applications", json={"name": "x"}).status_code == 403
        r = http.post("/api/v1/applications", json={"name": "x"}, headers={"X-Tollway-CSRF": "1"})
        assert r.status_code == 201
    finally:
        http.cookies.clear()


def test_user_creation_conflicts_and_unknown_org(admin: Any, make_actor: Any) -> None:
    con = make_actor("consumer")
    body = {
        "email": con.email,
        "name": "again",
        "password": "correct horse battery",
        "role": "consumer",
    }
    assert admin.post("/api/v1/users", json=body).status_code == 409
    body = {**body, "email": "new@example.com", "organization_id": "org_nope"}
    assert admin.post("/api/v1/users", json=body).status_code == 404
    r = admin.post("/api/v1/organizations", json={"name": "X", "slug": "x"})
    assert r.status_code == 201
    assert admin.post("/api/v1/organizations", json={"name": "X2", "slug": "x"}).status_code == 409
