"""Applications, API keys, OAuth2 clients, the token and revocation endpoints."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select, text

from tollway.security.apikeys import hash_api_key, is_well_formed
from tollway.security.tokens import TokenVerifier
from tollway.store import keys_repo
from tollway.store.tables import api_keys, oauth_clients, revoked_tokens


def _basic(cid: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{cid}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def test_api_key_shown_once_and_only_hash_stored(ctx: Any, cat: Any, make_actor: Any) -> None:
    con = make_actor("consumer")
    app = cat.app(con)
    r = con.post(
        f"/api/v1/applications/{app['id']}/keys",
        json={"environment": "development", "name": "laptop"},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    raw = created["key"]
    assert is_well_formed(raw)
    assert not is_well_formed(raw[:-1] + ("A" if raw[-1] != "A" else "B"))
    assert raw.startswith(created["display_prefix"]) and len(created["display_prefix"]) < len(raw)
    listed = con.get(f"/api/v1/applications/{app['id']}/keys").json()
    assert len(listed) == 1 and "key" not in listed[0]
    assert raw not in str(listed)
    assert listed[0]["display_prefix"] == created["display_prefix"]
    with ctx.engine.connect() as conn:
        row = conn.execute(select(api_keys)).mappings().one()
        dump = " ".join(str(v) for v in row.values())
        every = conn.execute(text("SELECT * FROM api_keys")).all()
    assert raw not in dump and raw not in str(every)
    assert row["key_hash"] == hash_api_key(raw)
    # revoke; revoking again is harmless; an unknown key is 404
    url = f"/api/v1/applications/{app['id']}/keys/{created['id']}"
    assert con.delete(url).status_code == 204
    assert con.delete(url).status_code == 204
    assert con.delete(f"/api/v1/applications/{app['id']}/keys/key_nope").status_code == 404
    assert con.get(f"/api/v1/applications/{app['id']}/keys").json()[0]["revoked_at"] is not None


def _client(cat: Any, con: Any, **app_extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    app = cat.app(con, **app_extra)
    r = con.post(f"/api/v1/applications/{app['id']}/oauth-clients", json={})
    assert r.status_code == 201, r.text
    return app, r.json()


def test_oauth_client_secret_shown_once(ctx: Any, cat: Any, make_actor: Any) -> None:
    con = make_actor("consumer")
    app, client = _client(cat, con)
    secret = client["client_secret"]
    listed = con.get(f"/api/v1/applications/{app['id']}/oauth-clients").json()
    assert [c["client_id"] for c in listed] == [client["client_id"]]
    assert "client_secret" not in listed[0] and secret not in str(listed)
    with ctx.engine.connect() as conn:
        stored = conn.execute(text("SELECT * FROM oauth_clients")).all()
    assert secret not in str(stored)


def _verify(ctx: Any, token: str) -> Any:
    with ctx.engine.connect() as conn:
        verifier = TokenVerifier(keys_repo.public_keys(conn))
    return verifier.verify(token, int(ctx.clock.now().timestamp()))


def test_token_endpoint_basic_and_form(ctx: Any, http: Any, cat: Any, make_actor: Any) -> None:
    con = make_actor("consumer")
    app, client = _client(cat, con)
    cid, secret = client["client_id"], client["client_secret"]
    before = int(ctx.clock.now().timestamp())
    r = http.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers=_basic(cid, secret)
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    claims = _verify(ctx, body["access_token"])
    assert claims is not None
    assert (claims.client_id, claims.application_id, claims.environment) == (
        cid,
        app["id"],
        "production",
    )
    after = int(ctx.clock.now().timestamp())
    assert before + 3600 <= claims.expires_at_s <= after + 3600
    assert claims.expires_at_s - claims.issued_at_s == 3600

    app2, client2 = _client(cat, con, name="short", token_lifetime_s=120)
    r = http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client2["client_id"],
            "client_secret": client2["client_secret"],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] == 120
    claims2 = _verify(ctx, r.json()["access_token"])
    assert claims2 is not None and claims2.expires_at_s - claims2.issued_at_s == 120
    assert claims2.application_id == app2["id"] and claims2.jti != claims.jti
    assert _verify(ctx, body["access_token"][:-2] + "xx") is None


def test_token_endpoint_errors(http: Any, cat: Any, make_actor: Any) -> None:
    con = make_actor("consumer")
    app, client = _client(cat, con)
    cid, secret = client["client_id"], client["client_secret"]
    cc = {"grant_type": "client_credentials"}
    cases = [
        ({"data": cc, "headers": _basic(cid, secret + "x")}, 401, "invalid_client"),
        ({"data": {**cc, "client_id": cid, "client_secret": "wrong"}}, 401, "invalid_client"),
        ({"data": {**cc, "client_id": "nope", "client_secret": secret}}, 401, "invalid_client"),
        ({"data": cc}, 401, "invalid_client"),
        ({"data": {"client_id": cid, "client_secret": secret}}, 400, "invalid_request"),
        (
            {"data": {**cc, "grant_type": "password"}, "headers": _basic(cid, secret)},
            400,
            "unsupported_grant_type",
        ),
        (
            {
                "data": {
                    "grant_type": "authorization_code",
                    "client_id": cid,
                    "client_secret": secret,
                }
            },
            400,
            "unsupported_grant_type",
        ),
        (
            {"data": {**cc, "client_id": cid}, "headers": _basic(cid, secret)},
            400,
            "invalid_request",
        ),
    ]
    for kwargs, status, error in cases:
        r = http.post("/oauth2/token", **kwargs)
        assert r.status_code == status, (kwargs, r.text)
        assert r.json()["error"] == error, (kwargs, r.text)
    r = http.post("/oauth2/token", data=cc, headers=_basic(cid, "bad"))
    assert r.headers["www-authenticate"].startswith("Basic")
    # revoke the client: its credentials stop working
    url = f"/api/v1/applications/{app['id']}/oauth-clients/{client['id']}"
    assert con.delete(url).status_code == 204
    r = http.post("/oauth2/token", data=cc, headers=_basic(cid, secret))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_revoke_endpoint_records_jti(ctx: Any, http: Any, cat: Any, make_actor: Any) -> None:
    con = make_actor("consumer")
    _, client = _client(cat, con)
    _, other = _client(cat, con, name="other")
    auth = _basic(client["client_id"], client["client_secret"])
    tok = http.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers=auth
    ).json()["access_token"]
    jti = _verify(ctx, tok).jti
    # another client cannot revoke it, and a wrong secret is refused
    r = http.post(
        "/oauth2/revoke",
        data={"token": tok},
        headers=_basic(other["client_id"], other["client_secret"]),
    )
    assert r.status_code == 200
    r = http.post(
        "/oauth2/revoke", data={"token": tok}, headers=_basic(client["client_id"], "wrong")
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    with ctx.engine.connect() as conn:
        assert conn.execute(select(revoked_tokens.c.jti)).scalars().all() == []
    r = http.post("/oauth2/revoke", data={"token": tok}, headers=auth)
    assert r.status_code == 200
    with ctx.engine.connect() as conn:
        assert conn.execute(select(revoked_tokens.c.jti)).scalars().all() == [jti]
    assert http.post("/oauth2/revoke", data={"token": "garbage"}, headers=auth).status_code == 200
    assert http.post("/oauth2/revoke", data={"token": tok}, headers=auth).status_code == 200
    with ctx.engine.connect() as conn:
        assert conn.execute(select(revoked_tokens.c.jti)).scalars().all() == [jti]
        assert conn.execute(select(oauth_clients.c.revoked_at)).scalars().all() == [None, None]


def test_application_token_lifetime_bounds(cat: Any, make_actor: Any) -> None:
    con = make_actor("consumer")
    app = cat.app(con)
    assert app["token_lifetime_s"] == 3600
    r = con.patch(f"/api/v1/applications/{app['id']}", json={"token_lifetime_s": 10})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "token_lifetime_s"
    r = con.patch(f"/api/v1/applications/{app['id']}", json={"token_lifetime_s": 600})
    assert r.status_code == 200 and r.json()["token_lifetime_s"] == 600
    assert con.post("/api/v1/applications", json={"name": "my app"}).status_code == 409
