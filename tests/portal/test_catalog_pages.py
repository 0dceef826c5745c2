"""The catalog and an API's page, for anonymous visitors: search, tags, plans side by
side, the cost calculator (the pricing core's invoice total) and the stored reference."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from .conftest import Shop


def _totals(html: str) -> dict[str, str]:
    rows = re.findall(r'<tr data-plan="([^"]+)">.*?<td class="num" data-total>(.*?)</td>', html)
    return {plan: re.sub(r"<[^>]+>", "", total) for plan, total in rows}


def test_catalog_lists_published_apis_and_filters_by_text_and_tag(
    http: TestClient, shop: Shop
) -> None:
    page = http.get("/portal/apis")
    assert page.status_code == 200
    assert shop.api["name"] in page.text and "Secret Stuff" not in page.text
    tags = re.findall(r'<option value="([^"]+)"', page.text)
    assert tags, "the imported document's tags are offered as a filter"
    assert shop.api["name"] in http.get("/portal/apis", params={"tag": tags[0]}).text
    assert "No API matches" in http.get("/portal/apis", params={"tag": "nope"}).text
    assert shop.api["name"] in http.get("/portal/apis", params={"q": "READING"}).text
    assert "No API matches" in http.get("/portal/apis", params={"q": "%_"}).text
    assert http.get("/portal/apis", params={"q": "x" * 101}).status_code == 400
    hidden = http.get(f"/portal/apis/{shop.hidden['id']}")
    assert hidden.status_code == 404 and "Page not found" in hidden.text


def test_api_page_compares_plans_and_prices_calls_like_the_invoice(
    http: TestClient, shop: Shop
) -> None:
    page = http.get(f"/portal/apis/{shop.api['id']}")
    assert page.status_code == 200
    text = page.text
    assert "http://127.0.0.1:8080/books/v1" in text
    assert "Deployed in production" in text
    assert "1,000 calls per month, then refused" in text  # the free plan's quota
    assert "20 calls per second" in text
    assert "1,001 – 10,000" not in text  # tiers count overage units from 1
    assert "1 – 10,000" in text and "10,001 and more" in text
    # 50,000 calls: 1,000 included, then 10,000 at 0.002 and 39,000 at 0.001 = 59.00
    assert _totals(text) == {shop.free["id"]: "$0.00", shop.payg["id"]: "$59.00"}

    cost = http.get(
        f"/portal/apis/{shop.api['id']}/cost",
        params={"calls": "1,500"},
        headers={"HX-Request": "true"},
    )
    assert cost.status_code == 200 and not cost.text.lstrip().startswith("<!doctype")
    assert _totals(cost.text)[shop.payg["id"]] == "$1.00"  # 500 x 0.002
    bad = http.get(f"/portal/apis/{shop.api['id']}/cost", params={"calls": "lots"})
    assert bad.status_code == 422 and "whole number of calls" in bad.text


def test_the_reference_renders_the_stored_document(http: TestClient, shop: Shop) -> None:
    page = http.get(f"/portal/apis/{shop.api['id']}/reference")
    assert page.status_code == 200
    assert f'data-openapi-url="/portal/apis/{shop.api["id"]}/openapi.json"' in page.text
    doc = http.get(f"/portal/apis/{shop.api['id']}/openapi.json")
    assert doc.status_code == 200 and "/books" in doc.json()["paths"]
    assert http.get(f"/portal/apis/{shop.hidden['id']}/openapi.json").status_code == 404


def test_a_plan_of_several_meters_lists_each_usage_price(http: TestClient, shop: Shop) -> None:
    pub = shop.publisher
    meter = {"key": "tokens", "metric": {"aggregation": "sum", "field": "usage_value"}}
    assert pub.post("/api/v1/meters", json={"definition": meter}).status_code == 201
    usage = [
        {"meter": "requests", "model": "unit", "unit_amount": "0.002"},
        {"meter": "tokens", "model": "package", "unit_amount": "0.01", "package_size": 1000},
    ]
    r = pub.post(
        "/api/v1/plans", json={"name": "AI", "currency": "USD", "pricing": {"usage": usage}}
    )
    assert r.status_code == 201, r.text
    plan = r.json()["id"]
    r = pub.put(f"/api/v1/apis/{shop.api['id']}/plans/{plan}", json={"enabled": True})
    assert r.status_code == 200, r.text
    text = http.get(f"/portal/apis/{shop.api['id']}").text
    assert "<dt>Usage prices</dt>" in text
    assert "<dd>requests: $0.002 per unit of requests</dd>" in text
    assert "<dd>tokens: $0.01 per 1,000 tokens</dd>" in text
    # 50,000 of each meter: 50,000 x $0.002 + 50 packages x $0.01
    assert _totals(text)[plan] == "$100.50"
