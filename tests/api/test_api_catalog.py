"""Catalog: APIs, lifecycle, deployments with the SSRF guard, OpenAPI import."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import serve_handler

FIXTURES = Path(__file__).resolve().parents[1] / "openapi" / "fixtures"

OAS30 = """
openapi: 3.0.3
info: {title: Books Service, version: 2.1.0}
paths:
  /books:
    get: {operationId: listBooks, summary: List, responses: {'200': {description: ok}}}
    post: {operationId: addBook, responses: {'201': {description: ok}}}
  /books/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {operationId: getBook, responses: {'200': {description: ok}}}
    delete: {responses: {'204': {description: gone}}}
"""

OAS31 = {
    "openapi": "3.1.0",
    "info": {"title": "Weather", "version": "1"},
    "paths": {
        "/cities/{city}/forecast": {
            "parameters": [
                {"name": "city", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": {"responses": {"200": {"description": "ok"}}},
        },
        "/alerts": {"put": {"responses": {"200": {"description": "ok"}}}},
    },
}

SWAGGER2 = """
swagger: '2.0'
info: {title: Pets, version: '1.0'}
basePath: /v2
paths:
  /pets:
    get: {responses: {'200': {description: ok}}}
  /pets/{petId}:
    get:
      parameters: [{name: petId, in: path, required: true, type: integer}]
      responses: {'200': {description: ok}}
    patch:
      parameters: [{name: petId, in: path, required: true, type: integer}]
      responses: {'200': {description: ok}}
"""

BROKEN = """
openapi: 3.0.3
info: {title: Broken, version: '1'}
paths:
  /books:
    get:
      responses: {'200': {descriptionn: ok}}
"""


def _import_file(pub: Any, name: str, body: str | bytes, **params: str) -> Any:
    return pub.post("/api/v1/apis/import", params=params, files={"file": (name, body)})


def test_create_api_and_duplicate_is_409(make_actor: Any) -> None:
    pub, other = make_actor("publisher"), make_actor("publisher")
    body = {"name": "Books", "context": "books", "version": "v1", "description": "d"}
    r = pub.post("/api/v1/apis", json=body)
    assert r.status_code == 201, r.text
    api = r.json()
    assert (api["lifecycle"], api["deployments"], api["operation_count"]) == ("created", [], 0)
    assert pub.get(f"/api/v1/apis/{api['id']}").json() == api
    r = other.post("/api/v1/apis", json=body)  # context+version is global at the gateway
    assert r.status_code == 409 and "books" in r.json()["detail"]
    assert pub.post("/api/v1/apis", json={**body, "version": "v2"}).status_code == 201
    r = pub.post("/api/v1/apis", json={**body, "context": "Not A Slug"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "context"


def test_lifecycle_rules(make_actor: Any) -> None:
    pub = make_actor("publisher")
    api = pub.post("/api/v1/apis", json={"name": "B", "context": "b", "version": "v1"}).json()
    path = f"/api/v1/apis/{api['id']}"
    r = pub.post(f"{path}/lifecycle", json={"state": "published"})
    assert r.status_code == 409 and "deploy" in r.json()["detail"]
    r = pub.post(f"{path}/lifecycle", json={"state": "deprecated"})
    assert r.status_code == 409
    body = r.json()
    assert body["current"] == "created"
    assert sorted(body["allowed"]) == ["blocked", "published", "retired"]
    assert all(s in body["detail"] for s in body["allowed"])
    r = pub.put(f"{path}/deployments/development", json={"upstream_url": "http://127.0.0.1:7001"})
    assert r.status_code == 200, r.text
    r = pub.put(f"{path}/deployments/production", json={"upstream_url": "http://127.0.0.1:7002/"})
    assert r.status_code == 200, r.text
    r = pub.post(f"{path}/lifecycle", json={"state": "published"})
    assert r.status_code == 200 and r.json()["lifecycle"] == "published"
    deps = {d["environment"]: d["upstream_url"] for d in r.json()["deployments"]}
    assert deps == {"development": "http://127.0.0.1:7001", "production": "http://127.0.0.1:7002"}
    for state in ("deprecated", "retired"):
        r = pub.post(f"{path}/lifecycle", json={"state": state})
        assert r.status_code == 200 and r.json()["lifecycle"] == state
    r = pub.post(f"{path}/lifecycle", json={"state": "published"})
    assert r.status_code == 409 and r.json()["allowed"] == []


def test_published_api_visible_to_consumers_until_retired(cat: Any, make_actor: Any) -> None:
    pub, con = make_actor("publisher"), make_actor("consumer")
    draft = cat.api(pub, "draft", publish=False)
    live = cat.api(pub, "live")
    ids = [a["id"] for a in con.get("/api/v1/apis").json()["data"]]
    assert ids == [live["id"]]
    assert con.get(f"/api/v1/apis/{draft['id']}").status_code == 404
    assert con.get(f"/api/v1/apis/{live['id']}/operations").status_code == 200
    for state in ("deprecated", "retired"):
        r = pub.post(f"/api/v1/apis/{live['id']}/lifecycle", json={"state": state})
        assert r.status_code == 200
    assert con.get("/api/v1/apis").json()["data"] == []
    assert con.get(f"/api/v1/apis/{live['id']}").status_code == 404
    assert con.get(f"/api/v1/apis/{live['id']}/plans").status_code == 404
    assert pub.get(f"/api/v1/apis/{live['id']}").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1:8080",
        "http://[::1]/",
        "ftp://127.0.0.1/x",
        "file:///etc/passwd",
        "not a url",
    ],
)
def test_forbidden_upstream_is_422_naming_the_field(make_actor: Any, url: str) -> None:
    pub = make_actor("publisher")
    api = pub.post("/api/v1/apis", json={"name": "B", "context": "b", "version": "v1"}).json()
    r = pub.put(f"/api/v1/apis/{api['id']}/deployments/production", json={"upstream_url": url})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["upstream_url"]
    assert r.json()["detail"].startswith("upstream_url: ")
    assert "upstream_url: url:" not in r.json()["detail"]
    assert pub.get(f"/api/v1/apis/{api['id']}").json()["deployments"] == []


def _ops(api: dict[str, Any]) -> set[tuple[str, str]]:
    return {(o["method"], o["path_template"]) for o in api["operations"]}


def test_import_openapi_30_31_and_swagger_20(make_actor: Any) -> None:
    pub = make_actor("publisher")
    r = _import_file(pub, "books.yaml", OAS30)
    assert r.status_code == 201, r.text
    books = r.json()
    assert (books["name"], books["context"], books["version"]) == (
        "Books Service",
        "books-service",
        "2.1.0",
    )
    assert _ops(books) == {
        ("GET", "/books"),
        ("POST", "/books"),
        ("GET", "/books/{id}"),
        ("DELETE", "/books/{id}"),
    }
    assert books["operation_count"] == 4
    refs = {o["operation_ref"] for o in books["operations"]}
    assert {"listBooks", "addBook", "getBook"} <= refs

    r = _import_file(pub, "weather.json", json.dumps(OAS31), context="wx", version="v3")
    assert r.status_code == 201, r.text
    wx = r.json()
    assert (wx["context"], wx["version"]) == ("wx", "v3")
    assert _ops(wx) == {("GET", "/cities/{city}/forecast"), ("PUT", "/alerts")}

    r = _import_file(pub, "pets.yaml", SWAGGER2)
    assert r.status_code == 201, r.text
    pets = r.json()
    assert {p for _, p in _ops(pets)} <= {"/pets", "/pets/{petId}", "/v2/pets", "/v2/pets/{petId}"}
    assert {m for m, _ in _ops(pets)} == {"GET", "PATCH"} and len(pets["operations"]) == 3
    listed = pub.get(f"/api/v1/apis/{pets['id']}/operations").json()
    assert {(o["method"], o["path_template"]) for o in listed} == _ops(pets)

    # importing the same document again collides on context+version
    assert _import_file(pub, "books.yaml", OAS30).status_code == 409


def test_import_shared_reading_list_fixture(make_actor: Any) -> None:
    path = FIXTURES / "reading-list.yaml"  # ships with the tests: a missing file is a failure
    pub = make_actor("publisher")
    r = _import_file(pub, "reading-list.yaml", path.read_bytes())
    assert r.status_code == 201, r.text
    paths = {p for _, p in _ops(r.json())}
    assert "/books" in paths and "/books/{id}" in paths


def test_broken_document_is_422_saying_where(make_actor: Any) -> None:
    pub = make_actor("publisher")
    r = _import_file(pub, "broken.yaml", BROKEN)
    assert r.status_code == 422, r.text
    body = r.json()
    where = body["detail"] + " ".join(e["field"] for e in body.get("errors", []))
    assert "/books" in where and "200" in where, body
    r = _import_file(pub, "junk.yaml", b"openapi: [unclosed")
    assert r.status_code == 422 and r.json()["detail"]
    r = _import_file(pub, "notopenapi.json", b'{"hello": "world"}')
    assert r.status_code == 422
    assert pub.get("/api/v1/apis").json()["data"] == []
    r = pub.post("/api/v1/apis/import", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code in (400, 415, 422)
    r = pub.post("/api/v1/apis/import", data={"notfile": "x"}, files={"other": ("a", b"b")})
    assert r.status_code == 422


class _Docs(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/openapi.yaml":
            body, status = OAS30.encode(), 200
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/openapi.yaml")
            self.end_headers()
            return
        else:
            body, status = b"nope", 404
        self.send_response(status)
        self.send_header("Content-Type", "application/yaml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def doc_server() -> Iterator[str]:
    with serve_handler(_Docs) as port:
        yield f"http://127.0.0.1:{port}"


def test_import_from_url(make_actor: Any, doc_server: str) -> None:
    pub = make_actor("publisher")
    r = pub.post(
        "/api/v1/apis/import",
        json={"url": f"{doc_server}/openapi.yaml", "context": "remote", "name": "Remote books"},
    )
    assert r.status_code == 201, r.text
    api = r.json()
    assert (api["name"], api["context"]) == ("Remote books", "remote")
    assert len(api["operations"]) == 4
    r = pub.post("/api/v1/apis/import", json={"url": f"{doc_server}/missing.yaml"})
    assert r.status_code == 422, r.text
    r = pub.post("/api/v1/apis/import", json={"url": f"{doc_server}/redirect"})
    assert r.status_code == 422, r.text


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/openapi.json", "http://10.0.0.1/x", "ftp://127.0.0.1/openapi.yaml"],
)
def test_import_from_forbidden_url_is_422(make_actor: Any, url: str) -> None:
    pub = make_actor("publisher")
    r = pub.post("/api/v1/apis/import", json={"url": url})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "url"


def test_consumers_cannot_create_or_import(make_actor: Any) -> None:
    con = make_actor("consumer")
    assert con.post("/api/v1/apis/import", files={"file": ("a.yaml", OAS30)}).status_code == 403
    assert (
        con.post("/api/v1/apis", json={"name": "a", "context": "a", "version": "v1"}).status_code
        == 403
    )


def test_patch_api_with_null_keeps_required_fields(make_actor: Any) -> None:
    pub = make_actor("publisher")
    api = pub.post(
        "/api/v1/apis",
        json={"name": "B", "context": "b", "version": "v1", "usage_header": "X-Usage"},
    ).json()
    r = pub.patch(
        f"/api/v1/apis/{api['id']}", json={"name": None, "description": None, "usage_header": None}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["description"], r.json()["usage_header"]) == ("B", "", None)
