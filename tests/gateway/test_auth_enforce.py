"""Authentication (401), enforcement (403/404) and live configuration changes."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx
import pytest

from tests.gateway.conftest import Catalog, GatewayThread, MakeGateway
from tests.gateway.helpers import wait_for
from tollway.gateway.snapshot import Credential, Operation, Route
from tollway.security.tokens import SigningKeyPair, generate_signing_key, issue_access_token


def _body_without_id(r: httpx.Response) -> dict[str, object]:
    doc: dict[str, object] = r.json()
    doc.pop("request_id", None)
    return doc


def test_no_credential_is_401_with_challenge(gateway: GatewayThread) -> None:
    r = httpx.get(gateway.url + "/books/v1/a")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["content-type"] == "application/problem+json"


def test_bad_credentials_all_look_the_same(gateway: GatewayThread, catalog: Catalog) -> None:
    from tollway.security.apikeys import generate_api_key

    unknown = generate_api_key("production").raw
    malformed = catalog.key[:-1] + ("A" if catalog.key[-1] != "A" else "B")
    answers = []
    for headers in (
        {"apikey": unknown},
        {"apikey": malformed},
        {"apikey": "nonsense"},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": "Bearer " + "x" * 50},
    ):
        r = httpx.get(gateway.url + "/books/v1/a", headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer realm="tollway", error="invalid_token"'
        answers.append(_body_without_id(r))
    assert all(a == answers[0] for a in answers)


def test_key_in_query_string_is_refused(gateway: GatewayThread, catalog: Catalog) -> None:
    r = httpx.get(gateway.url + "/books/v1/a", params={"apikey": catalog.key})
    assert r.status_code == 401
    r = httpx.get(
        gateway.url + "/books/v1/a",
        params={"api_key": catalog.key},
        headers={"apikey": catalog.key},
    )
    assert r.status_code == 401


def test_revoked_key_is_refused_without_restart(gateway: GatewayThread, catalog: Catalog) -> None:
    assert (
        httpx.get(gateway.url + "/books/v1/a", headers={"apikey": catalog.key}).status_code == 200
    )
    catalog.revoked = True
    gateway.set_snapshot(catalog.snapshot())
    assert (
        httpx.get(gateway.url + "/books/v1/a", headers={"apikey": catalog.key}).status_code == 401
    )


def test_development_key_uses_development_upstream(
    make_gateway: MakeGateway, catalog: Catalog
) -> None:
    snap = catalog.snapshot()
    cred = Credential("key_1", "key", "app_1", "development", "usr_1")
    gw = make_gateway(replace(snap, keys={catalog.key_hash: cred}))
    r = httpx.get(gw.url + "/books/v1/a", headers={"apikey": catalog.key})
    assert r.status_code == 200
    assert r.json()["path"] == "/dev/a"


@pytest.fixture
def token_catalog(catalog: Catalog) -> tuple[Catalog, SigningKeyPair]:
    pair = generate_signing_key()
    catalog.public_keys = {pair.kid: pair.public_pem}
    catalog.clients = {
        "cli_1": Credential("oc_1", "oauth", "app_1", "production", "usr_1", "cli_1")
    }
    return catalog, pair


def test_bearer_token(
    make_gateway: MakeGateway, token_catalog: tuple[Catalog, SigningKeyPair]
) -> None:
    catalog, pair = token_catalog
    gw = make_gateway(catalog.snapshot())
    now = int(time.time())
    token = issue_access_token(
        pair,
        client_id="cli_1",
        application_id="app_1",
        environment="production",
        lifetime_s=600,
        now_s=now,
    )
    r = httpx.get(gw.url + "/books/v1/a", headers={"Authorization": f"Bearer {token.token}"})
    assert r.status_code == 200
    assert "authorization" not in r.json()["headers"]
    # expired
    old = issue_access_token(
        pair,
        client_id="cli_1",
        application_id="app_1",
        environment="production",
        lifetime_s=60,
        now_s=now - 3600,
    )
    r = httpx.get(gw.url + "/books/v1/a", headers={"Authorization": f"Bearer {old.token}"})
    assert r.status_code == 401
    # signed by another key
    other = issue_access_token(
        generate_signing_key(),
        client_id="cli_1",
        application_id="app_1",
        environment="production",
        lifetime_s=600,
        now_s=now,
    )
    r = httpx.get(gw.url + "/books/v1/a", headers={"Authorization": f"Bearer {other.token}"})
    assert r.status_code == 401
    # both a key and a token: ambiguous
    r = httpx.get(
        gw.url + "/books/v1/a",
        headers={"Authorization": f"Bearer {token.token}", "apikey": catalog.key},
    )
    assert r.status_code == 401
    # revoked token id, then revoked client
    gw.set_snapshot(replace(catalog.snapshot(), revoked_jtis=frozenset({token.jti})))
    r = httpx.get(gw.url + "/books/v1/a", headers={"Authorization": f"Bearer {token.token}"})
    assert r.status_code == 401
    gw.set_snapshot(replace(catalog.snapshot(), clients={}))
    r = httpx.get(gw.url + "/books/v1/a", headers={"Authorization": f"Bearer {token.token}"})
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("on_hold", "subscription_on_hold"),
        ("blocked", "subscription_blocked"),
        ("cancelled", "subscription_cancelled"),
        ("expired", "subscription_expired"),
    ],
)
def test_inactive_subscription_is_403(
    gateway: GatewayThread, catalog: Catalog, state: str, reason: str
) -> None:
    catalog.state = state
    gateway.set_snapshot(catalog.snapshot())
    r = httpx.get(gateway.url + "/books/v1/a", headers={"apikey": catalog.key})
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["reason"] == reason
    # unblocking takes effect at once
    catalog.state = "active"
    gateway.set_snapshot(catalog.snapshot())
    assert (
        httpx.get(gateway.url + "/books/v1/a", headers={"apikey": catalog.key}).status_code == 200
    )


def test_no_subscription_is_403(gateway: GatewayThread, catalog: Catalog) -> None:
    snap = catalog.snapshot()
    gateway.set_snapshot(replace(snap, subscriptions={}))
    r = httpx.get(gateway.url + "/books/v1/a", headers={"apikey": catalog.key})
    assert r.status_code == 403
    assert r.json()["reason"] == "no_subscription"


def test_subscription_to_another_api_does_not_cover_this_one(
    gateway: GatewayThread, catalog: Catalog
) -> None:
    snap = catalog.snapshot()
    other = replace(snap.routes[("books", "v1")], api_id="api_2", version="v2")
    gateway.set_snapshot(replace(snap, routes={**snap.routes, ("books", "v2"): other}))
    r = httpx.get(gateway.url + "/books/v2/a", headers={"apikey": catalog.key})
    assert r.status_code == 403


def test_unknown_api_is_404(gateway: GatewayThread, catalog: Catalog) -> None:
    for path in ("/nope/v1/a", "/books/v9/a", "/", "/books"):
        r = httpx.get(gateway.url + path, headers={"apikey": catalog.key})
        assert r.status_code == 404, path
        assert r.json()["reason"] == "unknown_api"
        assert "portal" not in r.json()  # the gateway does not know the control plane


def test_refusals_a_newcomer_meets_link_to_the_portal(
    make_gateway: MakeGateway, catalog: Catalog
) -> None:
    catalog.operations = [Operation("op_get", "GET", "/items/{id}")]
    gw = make_gateway(catalog.snapshot(), control_plane_url="https://api.example.test/")
    portal = "https://api.example.test/portal"
    root = httpx.get(gw.url + "/")
    assert (root.status_code, root.json()["reason"]) == (404, "unknown_api")
    assert root.json()["portal"] == portal
    no_key = httpx.get(gw.url + "/books/v1/items/1")
    assert (no_key.status_code, no_key.json()["portal"]) == (401, portal)
    unknown_op = httpx.delete(gw.url + "/books/v1/items/1", headers={"apikey": catalog.key})
    assert unknown_op.json()["reason"] == "unknown_operation"
    assert "portal" not in unknown_op.json()  # a caller with a key needs the API's docs


@pytest.mark.parametrize("lifecycle", ["retired", "blocked", "created"])
def test_unreachable_lifecycles_are_404(
    gateway: GatewayThread, catalog: Catalog, lifecycle: str
) -> None:
    catalog.lifecycle = lifecycle
    gateway.set_snapshot(catalog.snapshot())
    r = httpx.get(gateway.url + "/books/v1/a", headers={"apikey": catalog.key})
    assert r.status_code == 404


def test_deprecated_api_still_works(gateway: GatewayThread, catalog: Catalog) -> None:
    catalog.lifecycle = "deprecated"
    gateway.set_snapshot(catalog.snapshot())
    assert (
        httpx.get(gateway.url + "/books/v1/a", headers={"apikey": catalog.key}).status_code == 200
    )


def test_undeclared_operation_is_404(gateway: GatewayThread, catalog: Catalog) -> None:
    catalog.operations = [
        Operation("op_list", "GET", "/items"),
        Operation("op_get", "GET", "/items/{id}"),
        Operation("op_new", "POST", "/items"),
    ]
    gateway.set_snapshot(catalog.snapshot())
    key = {"apikey": catalog.key}
    assert httpx.get(gateway.url + "/books/v1/items/12", headers=key).status_code == 200
    assert httpx.post(gateway.url + "/books/v1/items", headers=key).status_code == 200
    r = httpx.delete(gateway.url + "/books/v1/items/12", headers=key)
    assert r.status_code == 404 and r.json()["reason"] == "unknown_operation"
    assert httpx.get(gateway.url + "/books/v1/other", headers=key).status_code == 404
    gateway.flush()
    wait_for(lambda: gateway.flush() >= 0 and len(gateway.ledger.events) == 2)
    ops = sorted(e.operation_id or "" for e in gateway.ledger.events.values())
    assert ops == ["op_get", "op_new"]


def test_refusals_are_not_metered(gateway: GatewayThread, catalog: Catalog) -> None:
    httpx.get(gateway.url + "/books/v1/a")
    httpx.get(gateway.url + "/nope/v1/a", headers={"apikey": catalog.key})
    catalog.state = "blocked"
    gateway.set_snapshot(catalog.snapshot())
    httpx.get(gateway.url + "/books/v1/a", headers={"apikey": catalog.key})
    gateway.flush()
    assert gateway.ledger.events == {}


def test_route_matching_unit() -> None:
    from tollway.gateway.snapshot import OperationMatcher

    m = OperationMatcher(
        [
            Operation("a", "GET", "/users/{id}"),
            Operation("b", "GET", "/users/me"),
            Operation("c", "GET", "/users/{id}/books/{book}"),
            Operation("d", "PUT", "/"),
        ]
    )
    assert m.match("GET", "/users/me") == "b"
    assert m.match("GET", "/users/42") == "a"
    assert m.match("HEAD", "/users/42") == "a"
    assert m.match("GET", "/users/42/books/x") == "c"
    assert m.match("GET", "/users/42/books") is None
    assert m.match("PUT", "/") == "d"
    assert m.match("POST", "/users/42") is None
    assert isinstance(Route, type)
