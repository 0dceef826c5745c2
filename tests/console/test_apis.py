"""APIs in the console: import (file, refused URL), overview, deployments with a
connectivity check against a real loopback upstream, lifecycle, another org's API."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from tests.support.servers import serve_in_thread
from tollway.demo.upstream import create_upstream

READING_LIST = resources.files("tollway.demo").joinpath("reading-list.yaml").read_bytes()


def _import(browser: Any) -> str:
    browser.get("/console/apis")
    response = browser.client.post(
        "/console/apis/import",
        data={"csrf_token": browser.token},
        files={"file": ("reading-list.yaml", READING_LIST, "application/yaml")},
    )
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/console/apis/([^/#]+)", response.headers["location"])
    assert found
    return found.group(1)


def test_import_deploy_check_and_publish(make_actor: Any, browser_for: Any) -> None:
    browser = browser_for(make_actor("publisher").email)
    api_id = _import(browser)
    page = browser.get(f"/console/apis/{api_id}")
    assert "Reading List" in page.text and "imported with" in page.text
    assert "/books" in page.text
    early = browser.post(f"/console/apis/{api_id}/lifecycle", {"state": "published"})
    assert early.status_code == 303
    refusal = browser.get(f"/console/apis/{api_id}")
    assert "deploy the API to at least one environment before publishing it" in refusal.text
    with serve_in_thread(create_upstream()) as upstream:
        deployed = browser.post(
            f"/console/apis/{api_id}/deployments",
            {"environment": "production", "upstream_url": upstream.url},
        )
        assert deployed.status_code == 303, deployed.text
        browser.get(f"/console/apis/{api_id}")
        check = browser.post(
            f"/console/apis/{api_id}/deployments/production/check",
            headers={"HX-Request": "true"},
        )
        assert check.status_code == 200
        assert "Reachable" in check.text and "HTTP " in check.text
        assert "<html" not in check.text
    gone = browser.post(
        f"/console/apis/{api_id}/deployments/production/check", headers={"HX-Request": "true"}
    )
    assert "Not reachable" in gone.text
    published = browser.post(f"/console/apis/{api_id}/lifecycle", {"state": "published"})
    assert published.status_code == 303
    page = browser.get(f"/console/apis/{api_id}")
    assert "is now published" in page.text
    assert "Deprecate" in page.text and "nobody new" in page.text


def test_internal_url_is_refused_with_the_setting_named(make_actor: Any, browser_for: Any) -> None:
    browser = browser_for(make_actor("publisher").email)
    browser.get("/console/apis")
    refused = browser.post("/console/apis/import", {"url": "http://10.1.2.3/openapi.json"})
    assert refused.status_code == 422
    assert "TOLLWAY_SSRF_ALLOW" in refused.text
    assert 'id="f-url-error"' in refused.text
    api_id = _import(browser)
    browser.get(f"/console/apis/{api_id}")
    bad = browser.post(
        f"/console/apis/{api_id}/deployments",
        {"environment": "production", "upstream_url": "http://169.254.169.254/latest"},
    )
    assert bad.status_code == 422 and "TOLLWAY_SSRF_ALLOW" in bad.text


def test_another_organizations_api_is_a_404(make_actor: Any, browser_for: Any, admin: Any) -> None:
    owner = browser_for(make_actor("publisher").email)
    api_id = _import(owner)
    org = admin.post("/api/v1/organizations", json={"name": "Other", "slug": "other"}).json()
    stranger = browser_for(make_actor("publisher", org["id"]).email)
    assert stranger.get(f"/console/apis/{api_id}").status_code == 404
    stranger.get("/console/apis")
    assert (
        stranger.post(f"/console/apis/{api_id}/lifecycle", {"state": "blocked"}).status_code == 404
    )
    assert "Reading List" not in stranger.get("/console/apis").text
