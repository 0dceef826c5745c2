from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from tests.support.servers import serve_handler
from tollway.domain.errors import FetchFailed, InvalidInput, UnsafeUrl
from tollway.security.ssrf import UrlGuard, check_upstream_url, forbidden_reason

PUBLIC = "93.184.216.34"
DOC = b"openapi: 3.0.3\ninfo: {title: T, version: '1'}\npaths: {}\n"


def fake_resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


# ---------------------------------------------------------------------------- check()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/openapi.json",
        "http://localhost/",
        "http://LOCALHOST./",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://0x7f000001/",
        "http://2130706433/",
        "http://127.1/",
        "http://0177.0.0.1/",
        "http://017700000001/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[fec0::1]/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://240.0.0.1/",
        "http://100.64.0.1/",
        "http://198.18.0.1/",
        "http://[2002:7f00:1::]/",
        "http://[2002:a9fe:a9fe::]/",
        "http://[64:ff9b::a00:1]/",
        "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",  # Teredo, client 10.0.0.1
    ],
)
def test_forbidden_addresses_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl) as exc:
        UrlGuard().check(url)
    assert isinstance(exc.value, InvalidInput)
    assert exc.value.errors[0].loc == ("url",)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://example.com/", "only http and https"),
        ("http://user:pw@example.com/", "user name or password"),
        ("http://user@example.com/", "user name or password"),
        ("not a url", "only http and https"),
        ("http:///nohost", "no host"),
        ("http://0x7f000001/", "non-standard form"),
        ("http://169.254.169.254/", "link-local"),
        ("http://100.64.0.1/", "CGNAT"),
        ("http://[::ffff:127.0.0.1]/", "IPv4-mapped form of a loopback"),
        ("http://localhost/", "resolves to"),
    ],
)
def test_refusal_messages_are_readable(url: str, words: str) -> None:
    with pytest.raises(UnsafeUrl) as exc:
        UrlGuard().check(url)
    assert words in exc.value.detail


def test_public_host_passes_and_returns_addresses() -> None:
    guard = UrlGuard(resolver=fake_resolver({"api.example.com": [PUBLIC, PUBLIC]}))
    assert guard.check("https://api.example.com/v1") == [ipaddress.ip_address(PUBLIC)]
    assert UrlGuard().check(f"http://{PUBLIC}/") == [ipaddress.ip_address(PUBLIC)]
    assert UrlGuard().check("http://[2606:4700::1111]/") == [
        ipaddress.ip_address("2606:4700::1111")
    ]


def test_host_resolving_to_any_private_address_is_refused() -> None:
    guard = UrlGuard(resolver=fake_resolver({"mixed.example": [PUBLIC, "10.0.0.7"]}))
    with pytest.raises(UnsafeUrl, match=r"resolves to 10\.0\.0\.7"):
        guard.check("https://mixed.example/")


def test_unresolvable_host_refused() -> None:
    guard = UrlGuard(resolver=fake_resolver({}))
    with pytest.raises(UnsafeUrl, match="cannot be resolved"):
        guard.check("https://nowhere.invalid/")


def test_allow_list_cidr_ip_and_host() -> None:
    guard = UrlGuard(
        ["10.0.0.0/8", "192.168.1.5", "docs.corp"],
        resolver=fake_resolver({"docs.corp": ["172.16.3.3"], "other.corp": ["172.16.3.4"]}),
    )
    guard.check("http://10.200.1.1/")
    guard.check("http://[::ffff:10.0.0.1]/")
    guard.check("http://192.168.1.5:8080/")
    guard.check("http://docs.corp/openapi.yaml")
    for url in ("http://192.168.1.6/", "http://other.corp/", "http://127.0.0.1/"):
        with pytest.raises(UnsafeUrl):
            guard.check(url)
    with pytest.raises(UnsafeUrl):  # the allow-list never opens other schemes
        guard.check("ftp://10.0.0.1/")


def test_check_upstream_url() -> None:
    with pytest.raises(UnsafeUrl):
        check_upstream_url("http://127.0.0.1:9000/api")
    assert check_upstream_url("http://127.0.0.1:9000/api", allow=["127.0.0.1"])
    with pytest.raises(UnsafeUrl, match="fragment"):
        check_upstream_url("http://127.0.0.1:9000/api#x", allow=["127.0.0.1"])


def test_forbidden_reason_on_public_addresses() -> None:
    for text in (PUBLIC, "8.8.8.8", "2606:4700::1", "::ffff:8.8.8.8"):
        assert forbidden_reason(ipaddress.ip_address(text)) is None


# ---------------------------------------------------------------------------- fetch()


class _Handler(BaseHTTPRequestHandler):
    release: threading.Event

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        port = self.server.server_address[1]  # type: ignore[index]
        path = self.path
        if path == "/doc.yaml":
            self._send(200, DOC, {"Content-Type": "application/yaml"})
        elif path == "/host":
            self._send(200, self.headers["Host"].encode(), {"Content-Type": "text/plain"})
        elif path == "/to-doc":
            self._send(302, headers={"Location": "/doc.yaml"})
        elif path == "/to-metadata":
            self._send(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        elif path == "/to-v6-loopback":
            self._send(307, headers={"Location": f"http://[::1]:{port}/doc.yaml"})
        elif path.startswith("/chain/"):
            n = int(path.rsplit("/", 1)[1])
            target = "/doc.yaml" if n == 0 else f"/chain/{n - 1}"
            self._send(302, headers={"Location": target})
        elif path == "/no-location":
            self._send(302)
        elif path == "/big":
            self._send(200, b"x" * 300_000)
        elif path == "/big-undeclared":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"y" * 10_000)
        elif path == "/slow":
            self.release.wait(20)
            self._send(200, DOC)
        elif path == "/slow-body":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            self.release.wait(20)
        else:
            self._send(404, b"nope")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    release = threading.Event()
    handler = type("Handler", (_Handler,), {"release": release})
    with serve_handler(handler) as port:
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            release.set()  # let slow responses finish before the server stops


LOCAL = UrlGuard(["127.0.0.1"])


def test_loopback_fetch_refused_by_default(server: str) -> None:
    with pytest.raises(UnsafeUrl, match="loopback"):
        UrlGuard().fetch_sync(f"{server}/doc.yaml", max_bytes=10_000, timeout_s=5)


def test_allow_listed_local_server_serves_document(server: str) -> None:
    doc = LOCAL.fetch_sync(f"{server}/doc.yaml", max_bytes=10_000, timeout_s=5)
    assert doc.body == DOC
    assert doc.content_type == "application/yaml"
    assert doc.url == f"{server}/doc.yaml"


def test_async_fetch(server: str) -> None:
    doc = asyncio.run(LOCAL.fetch(f"{server}/to-doc", max_bytes=10_000, timeout_s=5))
    assert doc.body == DOC
    assert doc.url == f"{server}/doc.yaml"


def test_fetch_sync_inside_running_loop(server: str) -> None:
    async def main() -> bytes:
        return LOCAL.fetch_sync(f"{server}/doc.yaml", max_bytes=10_000, timeout_s=5).body

    assert asyncio.run(main()) == DOC


def test_connection_is_pinned_to_checked_address(server: str) -> None:
    # "docs.internal" exists only in the guard's resolver: the fetch can succeed only if
    # the connection goes to the address the guard checked, with the original Host header.
    port = server.rsplit(":", 1)[1]
    guard = UrlGuard(["127.0.0.1"], resolver=fake_resolver({"docs.internal": ["127.0.0.1"]}))
    doc = guard.fetch_sync(f"http://docs.internal:{port}/host", max_bytes=1000, timeout_s=5)
    assert doc.body == f"docs.internal:{port}".encode()


@pytest.mark.parametrize("path", ["/to-metadata", "/to-v6-loopback"])
def test_redirect_to_forbidden_address_refused(server: str, path: str) -> None:
    with pytest.raises(UnsafeUrl):
        LOCAL.fetch_sync(f"{server}{path}", max_bytes=10_000, timeout_s=5)


def test_redirect_chain_limit(server: str) -> None:
    assert LOCAL.fetch_sync(f"{server}/chain/4", max_bytes=10_000, timeout_s=5).body == DOC
    with pytest.raises(FetchFailed, match="redirects"):
        LOCAL.fetch_sync(f"{server}/chain/5", max_bytes=10_000, timeout_s=5)


def test_redirect_without_location(server: str) -> None:
    with pytest.raises(FetchFailed, match="without a Location"):
        LOCAL.fetch_sync(f"{server}/no-location", max_bytes=10_000, timeout_s=5)


@pytest.mark.parametrize("path", ["/big", "/big-undeclared"])
def test_too_large_refused(server: str, path: str) -> None:
    with pytest.raises(FetchFailed, match="too large"):
        LOCAL.fetch_sync(f"{server}{path}", max_bytes=100_000, timeout_s=5)
    # the same document fits under a larger limit: the limit is what refused it
    assert len(LOCAL.fetch_sync(f"{server}{path}", max_bytes=500_000, timeout_s=5).body) > 100_000


@pytest.mark.parametrize("path", ["/slow", "/slow-body"])
def test_slow_server_times_out(server: str, path: str) -> None:
    with pytest.raises(FetchFailed, match="timed out"):
        LOCAL.fetch_sync(f"{server}{path}", max_bytes=10_000, timeout_s=0.5)


def test_http_error_status(server: str) -> None:
    with pytest.raises(FetchFailed, match="HTTP 404"):
        LOCAL.fetch_sync(f"{server}/missing", max_bytes=10_000, timeout_s=5)


def test_connection_refused_is_fetch_failed() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens on this port now
    with pytest.raises(FetchFailed, match="could not fetch"):
        LOCAL.fetch_sync(f"http://127.0.0.1:{port}/", max_bytes=10, timeout_s=5)


def test_pinned_target_for_own_clients() -> None:
    guard = UrlGuard(resolver=fake_resolver({"api.example.com": [PUBLIC]}))
    t = guard.pinned_target("https://api.example.com:8443/v1/books?x=1")
    assert t.pinned_url == f"https://{PUBLIC}:8443/v1/books?x=1"
    assert t.host_header == "api.example.com:8443"
    assert t.sni_hostname == "api.example.com"
    assert t.addresses == (ipaddress.ip_address(PUBLIC),)
    plain = guard.pinned_target("http://api.example.com/")
    assert (plain.pinned_url, plain.sni_hostname) == (f"http://{PUBLIC}/", None)
    with pytest.raises(UnsafeUrl):
        guard.pinned_target("http://10.0.0.1/")
