"""HTTPS through the guard: the connection is pinned to the checked IP while TLS still
verifies the certificate against the original host name (SNI + hostname check)."""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.servers import serve_handler
from tollway.domain.errors import FetchFailed
from tollway.security.ssrf import UrlGuard


def _self_signed(name: str, directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = self.headers["Host"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    cert, key = _self_signed("docs.internal", tmp_path_factory.mktemp("tls"))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    with serve_handler(_Handler, tls=ctx) as port:
        yield port, cert


def _guard(cert: Path) -> UrlGuard:
    names = {"docs.internal": ["127.0.0.1"], "other.internal": ["127.0.0.1"]}

    def resolve(host: str, port: int) -> list[str]:
        return names[host]

    return UrlGuard(["127.0.0.1"], resolver=resolve, verify=ssl.create_default_context(cafile=cert))


def test_https_pinned_with_hostname_verification(tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    doc = _guard(cert).fetch_sync(f"https://docs.internal:{port}/", max_bytes=100, timeout_s=5)
    assert doc.body == f"docs.internal:{port}".encode()


def test_https_certificate_for_another_name_refused(tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    with pytest.raises(FetchFailed, match="could not fetch"):
        _guard(cert).fetch_sync(f"https://other.internal:{port}/", max_bytes=100, timeout_s=5)


def test_https_untrusted_certificate_refused(tls_server: tuple[int, Path]) -> None:
    port, _cert = tls_server
    guard = UrlGuard(["127.0.0.1"], resolver=lambda h, p: ["127.0.0.1"])
    with pytest.raises(FetchFailed):
        guard.fetch_sync(f"https://docs.internal:{port}/", max_bytes=100, timeout_s=5)
