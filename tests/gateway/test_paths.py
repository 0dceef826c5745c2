"""Request paths that could step out of the declared operations or the upstream's base
path once an upstream normalises them: dot segments (also percent-encoded), encoded
slashes and backslashes, NULs. They are refused with 400 before anything else, never
reach the upstream and are not metered; ordinary paths still pass."""

from __future__ import annotations

import json

import pytest

from tests.gateway.conftest import Catalog, GatewayThread
from tests.gateway.helpers import raw_exchange
from tests.gateway.upstream_server import Upstream
from tollway.gateway.enforce import unsafe_path
from tollway.gateway.snapshot import Operation

BAD_PATHS = [
    b"/books/v1/books/..",
    b"/books/v1/books/../admin",
    b"/books/v1/books/.",
    b"/books/v1/books/./1",
    b"/books/v1/./books/1",
    b"/books/v1/../v2/books/1",
    b"/books/v1/books/%2e%2e",
    b"/books/v1/books/%2E%2E/admin",
    b"/books/v1/books/.%2e",
    b"/books/v1/books/%2e",
    b"/books/v1/books/..%2F..%2F..%2Finternal%2Fadmin",
    b"/books/v1/books/a%2fb",
    b"/books/v1/books/..%5C..%5Cadmin",
    b"/books/v1/books/a%5cb",
    b"/books/v1/books/a%00b",
    b"/books/v1/books/..;/admin",
    b"/books/v1/books/..;x=1/admin",
    b"/books/v1/books/..\\admin",  # refused by the HTTP parser already
    b"/books/v1/books/a\x00b",  # refused by the HTTP parser already
]

GOOD_PATHS = [
    b"/books/v1/books/42",
    b"/books/v1/books/a..b",
    b"/books/v1/books/...",
    b"/books/v1/books/.hidden",
    b"/books/v1/books/x%2Ejson",
    b"/books/v1/books/a%20b",
    b"/books/v1/books/%252F",  # a literal "%2F" in the id: the upstream decodes it once
    b"/books/v1/books/a;b",
]


def _get(port: int, path: bytes, key: str) -> bytes:
    data, _ = raw_exchange(
        port,
        b"GET "
        + path
        + b"?q=1 HTTP/1.1\r\nHost: gw\r\napikey: "
        + key.encode()
        # the upstream sees the raw path, so it must be read back before the next call
        + b"\r\nConnection: close\r\n\r\n",
    )
    return data


@pytest.mark.parametrize("declared", [True, False], ids=["operations", "passthrough"])
def test_unsafe_paths_are_400_and_never_reach_the_upstream(
    gateway: GatewayThread, catalog: Catalog, upstream: Upstream, declared: bool
) -> None:
    if declared:  # only GET /books/{id}: nothing else may reach the upstream
        catalog.operations = [Operation("op_get_book", "GET", "/books/{id}")]
        gateway.set_snapshot(catalog.snapshot())
    before = len(upstream.seen)
    for path in BAD_PATHS:
        data = _get(gateway.port, path, catalog.key)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), (path, data[:80])
        if b"\\" not in path and b"\0" not in path:  # else refused by the HTTP parser
            assert b"content-type: application/problem+json" in head.lower(), path
            assert json.loads(body)["reason"] == "bad_path", path
    assert upstream.seen[before:] == []
    gateway.flush()
    assert gateway.ledger.events == {}


@pytest.mark.parametrize("declared", [True, False], ids=["operations", "passthrough"])
def test_ordinary_paths_still_pass(
    gateway: GatewayThread, catalog: Catalog, upstream: Upstream, declared: bool
) -> None:
    if declared:
        catalog.operations = [Operation("op_get_book", "GET", "/books/{id}")]
        gateway.set_snapshot(catalog.snapshot())
    for path in GOOD_PATHS:
        data = _get(gateway.port, path, catalog.key)
        assert data.startswith(b"HTTP/1.1 200 "), (path, data[:80])
        forwarded = json.loads(data.partition(b"\r\n\r\n")[2])["path"]
        assert forwarded == "/base" + path.decode()[len("/books/v1") :] + "?q=1"


def test_unsafe_path_unit() -> None:
    for path in BAD_PATHS:
        assert unsafe_path(path), path
    for path in GOOD_PATHS:
        assert not unsafe_path(path), path
    assert unsafe_path(b"/a/b%00")
    assert unsafe_path(b"/a/\x00")
    assert not unsafe_path(b"/")
    assert not unsafe_path(b"/a//b/")
