"""Notifications in the portal: add a webhook endpoint (secret shown once, internal
addresses refused at the field), see deliveries and replay one, remove the endpoint."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from .conftest import csrf_of, post_form, sign_up


def test_endpoints_deliveries_and_replay(http: TestClient) -> None:
    sign_up(http, "fay")
    page = "/portal/notifications"
    assert "No endpoints yet" in http.get(page).text

    refused = post_form(http, page, f"{page}/endpoints", {"url": "http://169.254.169.254/latest"})
    assert refused.status_code == 422 and 'id="f-url-error"' in refused.text

    token = csrf_of(http.get(page).text)
    created = http.post(
        f"{page}/endpoints",
        data={
            "csrf_token": token,
            "url": "http://127.0.0.1:9/hooks",
            "events": ["key.created", "key.revoked"],
        },
    )
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    secret = re.search(r'<code id="new-endpoint-secret">(whsec_[^<]+)</code>', created.text)
    assert secret, created.text[-2000:]
    again = http.get(page).text
    assert secret.group(1) not in again and "key.created, key.revoked" in again

    app = post_form(http, "/portal/apps", "/portal/apps", {"name": "Shelf"})
    app_url = app.headers["location"]
    post_form(http, app_url, f"{app_url}/keys", {"key_name": "ci", "key_environment": "production"})
    html = http.get(page).text
    assert "<code>key.created</code>" in html and "http://127.0.0.1:9/hooks" in html
    deliveries = http.get("/api/v1/notification-deliveries").json()
    webhook = next(d for d in deliveries if d["channel"] == "webhook")
    assert webhook["status"] == "pending"  # the worker has not run in this test

    endpoint = http.get("/api/v1/notification-endpoints").json()[0]
    removed = post_form(http, page, f"{page}/endpoints/{endpoint['id']}/delete", {})
    assert removed.status_code == 303
    assert http.get("/api/v1/notification-endpoints").json() == []
    email = next(
        d for d in http.get("/api/v1/notification-deliveries").json() if d["channel"] == "email"
    )
    replayed = post_form(http, page, f"{page}/deliveries/{email['id']}/replay", {})
    assert replayed.status_code == 303
