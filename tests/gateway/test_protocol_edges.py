"""Protocol edges the gateway refuses on purpose, each answered and closed without
reaching the upstream: oversized heads (431), upgrades (501), CONNECT (405), TRACE the
API does not declare (405), HTTP versions other than 1.0/1.1 including HTTP/0.9 (505)."""

from __future__ import annotations

import json

import pytest

from tests.gateway.conftest import Catalog, GatewayThread, MakeGateway
from tests.gateway.helpers import raw_exchange
from tests.gateway.upstream_server import Upstream
from tollway.gateway.snapshot import Operation


def _status(data: bytes) -> bytes:
    return data.split(b"\r\n", 1)[0]


def _problem(data: bytes) -> dict[str, object]:
    doc: dict[str, object] = json.loads(data.split(b"\r\n\r\n", 1)[1])
    return doc


def test_oversized_headers_are_431(gateway: GatewayThread, upstream: Upstream) -> None:
    before = len(upstream.seen)
    req = b"GET /books/v1/a HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    data, closed = raw_exchange(gateway.port, req)
    assert _status(data) == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert _problem(data)["reason"] == "headers_too_large"
    assert closed
    assert len(upstream.seen) == before


def test_an_endless_header_line_is_431_before_it_ends(gateway: GatewayThread) -> None:
    """No line end at all: the parser never reports the header, the raw count stops it."""
    req = b"GET /books/v1/a HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000
    data, closed = raw_exchange(gateway.port, req)
    assert _status(data) == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert closed


UPGRADES = {
    "websocket": b"GET /books/v1/a HTTP/1.1\r\nHost: x\r\napikey: KEY\r\nConnection: Upgrade\r\n"
    b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n",
    "h2c": b"GET /books/v1/a HTTP/1.1\r\nHost: x\r\napikey: KEY\r\n"
    b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    b"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
    "h2c_with_body": b"POST /books/v1/a HTTP/1.1\r\nHost: x\r\napikey: KEY\r\n"
    b"Connection: upgrade\r\nUpgrade: h2c\r\nContent-Length: 3\r\n\r\nabc",
}


@pytest.mark.parametrize("name", sorted(UPGRADES))
def test_upgrade_requests_are_501_and_closed(
    gateway: GatewayThread, catalog: Catalog, upstream: Upstream, name: str
) -> None:
    before = len(upstream.seen)
    data, closed = raw_exchange(gateway.port, UPGRADES[name].replace(b"KEY", catalog.key.encode()))
    assert _status(data) == b"HTTP/1.1 501 Not Implemented"
    assert _problem(data)["reason"] == "upgrade_not_supported"
    assert closed
    assert len(upstream.seen) == before
    assert not gateway.ledger.events


@pytest.mark.parametrize(
    "target", [b"/books/v1/a", b"example.com:443", b"127.0.0.1:22"], ids=["origin", "host", "ip"]
)
def test_connect_is_405_and_closed(
    gateway: GatewayThread, catalog: Catalog, upstream: Upstream, target: bytes
) -> None:
    before = len(upstream.seen)
    req = b"CONNECT %s HTTP/1.1\r\nHost: x\r\napikey: %s\r\n\r\n" % (target, catalog.key.encode())
    data, closed = raw_exchange(gateway.port, req)
    assert _status(data) == b"HTTP/1.1 405 Method Not Allowed"
    assert b"\r\nAllow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n" in data
    assert closed
    assert len(upstream.seen) == before


def test_trace_is_405_unless_the_api_declares_it(
    make_gateway: MakeGateway, catalog: Catalog, upstream: Upstream
) -> None:
    gw = make_gateway(catalog.snapshot())  # passthrough API: no operations declared
    req = b"TRACE /books/v1/a HTTP/1.1\r\nHost: x\r\napikey: %s\r\n\r\n" % catalog.key.encode()
    before = len(upstream.seen)
    data, _ = raw_exchange(gw.port, req)
    assert _status(data) == b"HTTP/1.1 405 Method Not Allowed"
    assert _problem(data)["reason"] == "method_not_allowed"
    assert len(upstream.seen) == before
    catalog.operations = [Operation("op_trace", "TRACE", "/a"), Operation("op_get", "GET", "/b")]
    gw.set_snapshot(catalog.snapshot())
    data, _ = raw_exchange(gw.port, req)
    assert _status(data) == b"HTTP/1.1 200 OK"  # declared: forwarded
    assert upstream.seen[-1]["method"] == "TRACE"
    other = req.replace(b"/books/v1/a", b"/books/v1/b")
    assert _status(raw_exchange(gw.port, other)[0]) == b"HTTP/1.1 405 Method Not Allowed"


@pytest.mark.parametrize(
    "request_line",
    [
        b"GET /books/v1/a\r\n",
        b"GET /books/v1/a\r\n\r\n",
        b"GET /books/v1/a HTTP/2.0\r\nHost: x\r\n\r\n",
    ],
    ids=["http09", "http09_blank_line", "http2_text"],
)
def test_other_http_versions_are_answered_and_closed(
    gateway: GatewayThread, upstream: Upstream, request_line: bytes
) -> None:
    before = len(upstream.seen)
    data, closed = raw_exchange(gateway.port, request_line, timeout=3)
    assert _status(data) == b"HTTP/1.1 505 HTTP Version Not Supported"
    assert closed
    assert len(upstream.seen) == before


def test_a_request_line_split_over_packets_is_not_mistaken_for_http09(
    gateway: GatewayThread, catalog: Catalog
) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as s:
        s.sendall(b"GET /books/v1/a")
        s.sendall(b" HTTP/1.1\r")
        s.sendall(b"\nHost: x\r\napikey: %s\r\nConnection: close\r\n\r\n" % catalog.key.encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert _status(data) == b"HTTP/1.1 200 OK"
