"""Proxying: pass-through, header rules, streaming, keep-alive, upstream failures,
body limits and request smuggling defences."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.conftest import Catalog, GatewayThread, MakeGateway
from tests.gateway.helpers import raw_exchange, wait_for
from tests.gateway.upstream_server import Upstream


def test_request_passes_through_with_forwarding_headers(
    gateway: GatewayThread, catalog: Catalog, upstream: Upstream
) -> None:
    r = httpx.post(
        gateway.url + "/books/v1/items/7?q=a%20b&x=1",
        headers={
            "apikey": catalog.key,
            "X-Custom": "kept",
            "Connection": "X-Hop",
            "X-Hop": "dropped",
            "X-Forwarded-For": "10.0.0.1",
        },
        content=b"payload",
    )
    assert r.status_code == 200
    seen = r.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/base/items/7?q=a%20b&x=1"
    assert seen["body_bytes"] == 7
    h = seen["headers"]
    assert h["x-custom"] == "kept"
    assert "x-hop" not in h
    assert "apikey" not in h  # the credential is not forwarded
    assert h["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    assert h["x-forwarded-proto"] == "http"
    assert h["x-forwarded-host"].startswith("127.0.0.1:")
    assert h["x-request-id"] == r.headers["x-request-id"]
    assert h["host"] == f"127.0.0.1:{upstream.port}"
    assert r.headers["x-upstream"] == "yes"


def test_bearer_header_is_not_forwarded_but_basic_is(
    gateway: GatewayThread, catalog: Catalog
) -> None:
    r = httpx.get(
        gateway.url + "/books/v1/a",
        headers={"apikey": catalog.key, "Authorization": "Basic dTpw"},
    )
    assert r.status_code == 200
    assert r.json()["headers"]["authorization"] == "Basic dTpw"


def test_chunked_streaming_upload(gateway: GatewayThread, catalog: Catalog) -> None:
    digest = hashlib.sha256()

    def body() -> Iterator[bytes]:
        for i in range(50):
            piece = bytes([i]) * 10_000
            digest.update(piece)
            yield piece

    r = httpx.post(gateway.url + "/books/v1/up", headers={"apikey": catalog.key}, content=body())
    assert r.status_code == 200
    assert r.json()["body_bytes"] == 500_000
    assert r.json()["body_sha256"] == digest.hexdigest()


@pytest.mark.parametrize("chunked", ["", "1"])
def test_streaming_download(gateway: GatewayThread, catalog: Catalog, chunked: str) -> None:
    r = httpx.get(
        gateway.url + f"/books/v1/big?n=3000000&chunked={chunked}", headers={"apikey": catalog.key}
    )
    assert r.status_code == 200
    assert len(r.content) == 3_000_000
    if chunked:
        assert r.headers["transfer-encoding"] == "chunked"
    else:
        assert r.headers["content-length"] == "3000000"


def test_keep_alive_and_pooled_upstream(
    gateway: GatewayThread, catalog: Catalog, upstream: Upstream
) -> None:
    before = len(upstream.seen)
    with httpx.Client() as client:
        for _ in range(5):
            r = client.get(gateway.url + "/books/v1/ka", headers={"apikey": catalog.key})
            assert r.status_code == 200
    assert len(upstream.seen) == before + 5
    # all five calls went through one pooled upstream connection
    ports = {s["client"] for s in upstream.seen[before:]}
    assert len(ports) == 1
    assert len(gateway.gateway.app.connections) <= 1


def test_head_and_no_content(gateway: GatewayThread, catalog: Catalog) -> None:
    with httpx.Client() as client:
        r = client.head(gateway.url + "/books/v1/h", headers={"apikey": catalog.key})
        assert r.status_code == 200 and r.content == b""
        assert int(r.headers["content-length"]) > 0
        r = client.delete(gateway.url + "/books/v1/nocontent", headers={"apikey": catalog.key})
        assert r.status_code == 204
        r = client.get(gateway.url + "/books/v1/after", headers={"apikey": catalog.key})
        assert r.status_code == 200


def test_pipelined_requests_answer_in_order(gateway: GatewayThread, catalog: Catalog) -> None:
    req = (
        f"GET /books/v1/one HTTP/1.1\r\nHost: x\r\napikey: {catalog.key}\r\n\r\n"
        f"GET /books/v1/two HTTP/1.1\r\nHost: x\r\napikey: {catalog.key}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    data, closed = raw_exchange(gateway.port, req)
    assert closed
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert data.index(b"/base/one") < data.index(b"/base/two")


def test_upstream_refused_is_502(make_gateway: MakeGateway, catalog: Catalog) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    catalog.upstream_url = f"http://127.0.0.1:{dead}"
    gw = make_gateway(catalog.snapshot())
    r = httpx.get(gw.url + "/books/v1/x", headers={"apikey": catalog.key})
    assert r.status_code == 502
    assert r.headers["content-type"] == "application/problem+json"


def test_upstream_reset_is_502(gateway: GatewayThread, catalog: Catalog) -> None:
    r = httpx.get(gateway.url + "/books/v1/reset", headers={"apikey": catalog.key})
    assert r.status_code == 502


def test_upstream_timeout_is_504(gateway: GatewayThread, catalog: Catalog) -> None:
    r = httpx.get(gateway.url + "/books/v1/slow?s=3", headers={"apikey": catalog.key}, timeout=10)
    assert r.status_code == 504
    wait_for(
        lambda: (
            gateway.flush() >= 0 and any(e.status == 504 for e in gateway.ledger.events.values())
        )
    )


def test_body_over_limit_is_413(gateway: GatewayThread, catalog: Catalog) -> None:
    r = httpx.post(
        gateway.url + "/books/v1/up", headers={"apikey": catalog.key}, content=b"x" * 2_000_000
    )
    assert r.status_code == 413


def test_chunked_body_over_limit_is_413_and_closes(
    gateway: GatewayThread, catalog: Catalog
) -> None:
    head = (
        f"POST /books/v1/up HTTP/1.1\r\nHost: x\r\napikey: {catalog.key}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"%x\r\n" % 300_000 + b"y" * 300_000 + b"\r\n"
    data, closed = raw_exchange(gateway.port, head + chunk * 5 + b"0\r\n\r\n")
    assert b" 413 " in data.split(b"\r\n", 1)[0]
    assert closed


SMUGGLING = {
    "cl_and_te": b"POST /books/v1/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /books/v1/b HTTP/1.1\r\nHost: x\r\n\r\n",
    "te_and_cl": b"POST /books/v1/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 4\r\n\r\n0\r\n\r\n",
    "double_cl": b"POST /books/v1/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
    b"Content-Length: 4\r\n\r\nabcd",
    "same_double_cl": b"POST /books/v1/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"Content-Length: 4\r\n\r\nabcd",
    "bad_chunk_size": b"POST /books/v1/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"\r\nzz\r\nabc\r\n0\r\n\r\n",
    "chunk_size_overflow": b"POST /books/v1/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"\r\nfffffffffffffffffff1\r\nabc\r\n0\r\n\r\n",
    "te_identity_chunked": b"POST /books/v1/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, "
    b"chunked\r\n\r\n0\r\n\r\n",
    "te_xchunked": b"POST /books/v1/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
    "te_space_before_colon": b"POST /books/v1/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked"
    b"\r\n\r\n0\r\n\r\n",
    "header_bare_cr": b"GET /books/v1/a HTTP/1.1\r\nHost: x\r\nX-A: a\rInjected: 1\r\n\r\n",
    "header_bare_lf": b"GET /books/v1/a HTTP/1.1\r\nHost: x\nX-A: a\r\n\r\n",
    "obs_fold": b"GET /books/v1/a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "two_hosts": b"GET /books/v1/a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    "no_host_11": b"GET /books/v1/a HTTP/1.1\r\nX-A: 1\r\n\r\n",
    "negative_cl": b"POST /books/v1/a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "cl_with_plus": b"POST /books/v1/a HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd",
    "nul_in_header": b"GET /books/v1/a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "bad_request_line": b"GET /books/v1/a HTTP/1.1 extra\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_smuggling_is_400_and_closed(gateway: GatewayThread, upstream: Upstream, name: str) -> None:
    before = len(upstream.seen)
    data, closed = raw_exchange(gateway.port, SMUGGLING[name])
    assert data.startswith(b"HTTP/1.1 400 "), data[:80]
    assert data.count(b"HTTP/1.1") == 1
    assert closed
    assert len(upstream.seen) == before  # nothing reached the upstream


def test_usage_event_per_call(gateway: GatewayThread, catalog: Catalog) -> None:
    r = httpx.get(gateway.url + "/books/v1/m?usage=2.5", headers={"apikey": catalog.key})
    assert r.status_code == 200
    wait_for(lambda: gateway.flush() >= 0 and len(gateway.ledger.events) >= 1)
    (event,) = gateway.ledger.events.values()
    assert event.event_id == "ue_" + r.headers["x-request-id"]
    assert (event.api_id, event.application_id, event.subscription_id) == (
        "api_1",
        "app_1",
        "sub_1",
    )
    assert (event.credential_id, event.consumer_id, event.environment) == (
        "key_1",
        "usr_1",
        "production",
    )
    assert event.method == "GET" and event.status == 200
    assert event.response_bytes == len(r.content)
    assert str(event.usage_value) == "2.5"
    assert event.organization_id == "org_1"


def test_metrics_on_admin_port(make_gateway: MakeGateway, catalog: Catalog) -> None:
    gw = make_gateway(catalog.snapshot(), admin_port=0)
    httpx.get(gw.url + "/books/v1/m", headers={"apikey": catalog.key})
    httpx.get(gw.url + "/books/v1/m")
    port = gw.gateway.admin_port
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert 'tollway_gateway_requests_total{api="books/v1",status="200"} 1.0' in text
    assert 'tollway_gateway_requests_total{api="-",status="401"} 1.0' in text
    assert "tollway_gateway_upstream_duration_seconds_bucket" in text
    assert "tollway_gateway_usage_events_pending" in text
    assert json.loads(httpx.get(f"http://127.0.0.1:{port}/healthz").text)["status"] == "ok"


def test_logs_are_json_with_request_id_and_never_a_key(
    make_gateway: MakeGateway, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from tollway.gateway.logs import JsonFormatter

    gw = make_gateway(catalog.snapshot(), access_log=True)
    caplog.set_level(logging.INFO, logger="tollway")
    ok = httpx.get(gw.url + "/books/v1/a", headers={"apikey": catalog.key})
    bad = httpx.get(gw.url + "/books/v1/reset", headers={"apikey": catalog.key})
    assert (ok.status_code, bad.status_code) == (200, 502)
    wait_for(lambda: len([r for r in caplog.records if hasattr(r, "request_id")]) >= 2)
    lines = [JsonFormatter().format(r) for r in caplog.records]
    docs = [json.loads(line) for line in lines]
    ids = {d.get("request_id") for d in docs}
    assert ok.headers["x-request-id"] in ids and bad.headers["x-request-id"] in ids
    assert not any(catalog.key in line for line in lines)
