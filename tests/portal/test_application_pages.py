"""Applications in the portal: create, rename, delete; keys shown once and revoked;
OAuth2 clients; another consumer's application is a 404 page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from .conftest import post_form, sign_up


def test_applications_keys_and_clients(http: TestClient) -> None:
    sign_up(http, "ann")
    r = post_form(http, "/portal/apps", "/portal/apps", {"name": ""})
    assert r.status_code == 422 and 'id="f-name-error"' in r.text
    r = post_form(http, "/portal/apps", "/portal/apps", {"name": "Bookshelf"})
    assert r.status_code == 303
    app_url = r.headers["location"]
    app_id = app_url.rsplit("/", 1)[1]
    taken = post_form(http, "/portal/apps", "/portal/apps", {"name": "Bookshelf"})
    assert taken.status_code == 422 and "already have an application" in taken.text

    created = post_form(
        http, app_url, f"{app_url}/keys", {"key_name": "laptop", "key_environment": "development"}
    )
    assert created.status_code == 200
    html = created.text
    raw = re.search(r'<code id="new-key">([^<]+)</code>', html)
    assert raw and "only time it is shown" in html
    assert created.headers["cache-control"] == "no-store"
    again = http.get(app_url).text
    assert raw.group(1) not in again and "laptop" in again and "Never" in again

    client = post_form(http, app_url, f"{app_url}/clients", {"client_environment": "production"})
    secret = re.search(r'<code id="new-client-secret">([^<]+)</code>', client.text)
    assert secret and secret.group(1) not in http.get(app_url).text

    key_id = re.search(r"/keys/(key_[^/]+)/revoke", again)
    assert key_id
    revoked = post_form(http, app_url, f"{app_url}/keys/{key_id.group(1)}/revoke", {})
    assert revoked.status_code == 303
    assert 'data-state="revoked"' in http.get(app_url).text

    renamed = post_form(http, app_url, f"{app_url}/rename", {"name": "Reading room"})
    assert renamed.status_code == 303 and "Reading room" in http.get(app_url).text

    sign_up(http, "bob")  # another consumer: the application does not exist for him
    other = http.get(app_url)
    assert other.status_code == 404 and "Page not found" in other.text
    assert post_form(http, "/portal/apps", f"{app_url}/delete", {}).status_code == 404

    sign_up(http, "ann2")
    mine = post_form(http, "/portal/apps", "/portal/apps", {"name": "Scratch"})
    scratch = mine.headers["location"]
    deleted = post_form(http, scratch, f"{scratch}/delete", {})
    assert deleted.status_code == 303 and http.get(scratch).status_code == 404
    assert app_id not in http.get("/portal/apps").text
