"""NUL characters anywhere in input are a 4xx on every database (PostgreSQL refuses them)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from tollway.store.tables import api_operations, apis


def test_nul_in_body_path_query_and_forms(http: Any, admin: Any, make_actor: Any) -> None:
    r = admin.post("/api/v1/organizations", json={"name": "a\x00b", "slug": "ab"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    pub = make_actor("publisher")
    r = pub.post(
        "/api/v1/plans", json={"name": "p", "currency": "USD", "pricing": {"flat_fee\x00": "1"}}
    )
    assert r.status_code == 422
    assert pub.get("/api/v1/apis/api%00x").status_code == 400
    assert pub.get("/api/v1/apis", params={"after": "a\x00"}).status_code == 400
    r = http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "x\x00", "client_secret": "s"},
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = http.post("/oauth2/revoke", data={"token": "t", "client_id": "x\x00", "client_secret": "s"})
    assert r.status_code == 401


def test_nul_in_imported_document_is_dropped(ctx: Any, make_actor: Any) -> None:
    pub = make_actor("publisher")
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "Bo\x00oks", "version": "1", "description": "d\x00"},
        "paths": {
            "/b": {
                "get": {
                    "summary": "s\x00",
                    "operationId": "o\x00",
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    r = pub.post("/api/v1/apis/import", files={"file": ("d.json", json.dumps(doc))})
    assert r.status_code in (201, 422), r.text
    if r.status_code == 201:
        with ctx.engine.connect() as conn:
            texts = [
                *conn.execute(select(apis.c.name, apis.c.description)).one(),
                *conn.execute(
                    select(api_operations.c.summary, api_operations.c.operation_ref)
                ).one(),
            ]
        assert not any("\x00" in (t or "") for t in texts)
