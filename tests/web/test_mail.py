"""The mailer against a real SMTP server on loopback (aiosmtpd), with and without TLS."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from tests.support.mail import Inbox, smtp_server
from tests.support.servers import free_port
from tollway.mail import Mailer, MailError, MailMessage, MemoryMailer, render
from tollway.mail.smtp import SmtpMailer, from_settings
from tollway.settings import load_settings

PASSWORD = "s3cret-smtp-pass"


def _authenticate(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = (
        isinstance(data, LoginPassword)
        and data.login == b"mailer"
        and data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok)


def _server(inbox: Inbox, **kwargs: Any) -> Iterator[int]:
    with smtp_server(inbox, **kwargs) as port:
        yield port


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def plain_server(inbox: Inbox) -> Iterator[int]:
    yield from _server(
        inbox, authenticator=_authenticate, auth_require_tls=False, decode_data=False
    )


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(inbox: Inbox, tls_files: tuple[Path, Path]) -> Iterator[int]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(*tls_files)
    yield from _server(
        inbox,
        tls_context=server_context,
        require_starttls=True,
        authenticator=_authenticate,
        decode_data=False,
    )


def _reset_message(to: str = "dev@example.com") -> MailMessage:
    return render(
        "password_reset",
        to=to,
        brand_name="Acme <APIs>",
        context={"reset_url": "https://portal.example.com/r?t=abc&x=1", "valid_minutes": 30},
    )


def test_templates_render_a_text_and_an_escaped_html_body() -> None:
    message = _reset_message()
    assert message.subject == "Reset your Acme <APIs> password"
    assert "https://portal.example.com/r?t=abc&x=1" in message.text
    assert message.html is not None
    assert "Acme &lt;APIs&gt;" in message.html and "Acme <APIs>" not in message.html
    assert "t=abc&amp;x=1" in message.html


def test_a_message_arrives_with_text_and_html_parts(plain_server: int, inbox: Inbox) -> None:
    mailer = SmtpMailer(
        host="127.0.0.1", port=plain_server, sender="Acme APIs <apis@acme.test>", starttls=False
    )
    mailer.send(_reset_message())
    assert inbox.envelopes == [("apis@acme.test", ["dev@example.com"])]
    received = inbox.messages[0]
    assert received["Subject"] == "Reset your Acme <APIs> password"
    assert received["From"] == "Acme APIs <apis@acme.test>"
    assert received["Message-ID"].endswith("@acme.test>")
    types = [part.get_content_type() for part in received.walk()]
    assert types == ["multipart/alternative", "text/plain", "text/html"]


def test_login_works_and_a_refused_password_is_never_shown(
    plain_server: int, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = SmtpMailer(
        host="127.0.0.1",
        port=plain_server,
        sender="apis@acme.test",
        username="mailer",
        password=SecretStr(PASSWORD),
        starttls=False,
    )
    good.send(_reset_message())
    assert len(inbox.messages) == 1

    bad = SmtpMailer(
        host="127.0.0.1",
        port=plain_server,
        sender="apis@acme.test",
        username="mailer",
        password=SecretStr("wrong-" + PASSWORD),
        starttls=False,
        timeout_s=3,  # aiosmtpd hangs up only after a while on the second mechanism
    )
    with pytest.raises(MailError, match="refused the username or password") as refused:
        bad.send(_reset_message())
    assert len(inbox.messages) == 1
    assert PASSWORD not in str(refused.value) and PASSWORD not in repr(bad)
    assert PASSWORD not in caplog.text


def test_starttls_is_used_before_login(
    tls_server: int, inbox: Inbox, tls_files: tuple[Path, Path]
) -> None:
    client_context = ssl.create_default_context(cafile=str(tls_files[0]))
    mailer = SmtpMailer(
        host="127.0.0.1",
        port=tls_server,
        sender="apis@acme.test",
        username="mailer",
        password=SecretStr(PASSWORD),
        ssl_context=client_context,
    )
    mailer.send(_reset_message())
    assert len(inbox.messages) == 1


def test_an_untrusted_certificate_is_refused(tls_server: int, inbox: Inbox) -> None:
    mailer = SmtpMailer(host="127.0.0.1", port=tls_server, sender="apis@acme.test")
    with pytest.raises(MailError, match="could not send email"):
        mailer.send(_reset_message())
    assert inbox.messages == []


def test_no_plain_text_fallback_when_the_server_lacks_starttls(
    plain_server: int, inbox: Inbox
) -> None:
    mailer = SmtpMailer(host="127.0.0.1", port=plain_server, sender="apis@acme.test")
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        mailer.send(_reset_message())
    assert inbox.messages == []


def test_an_unreachable_server_is_a_mail_error() -> None:
    mailer = SmtpMailer(host="127.0.0.1", port=free_port(), sender="apis@acme.test", timeout_s=2)
    with pytest.raises(MailError, match="could not send email through 127.0.0.1"):
        mailer.send(_reset_message())


@pytest.mark.parametrize("kind", ["smtp", "memory"])
def test_mailer_contract_refuses_a_header_injection_in_the_address(
    kind: str, plain_server: int, inbox: Inbox
) -> None:
    mailer: Mailer
    if kind == "smtp":
        mailer = SmtpMailer(
            host="127.0.0.1", port=plain_server, sender="a@acme.test", starttls=False
        )
    else:
        mailer = MemoryMailer()
    with pytest.raises(MailError):
        mailer.send(_reset_message(to="dev@example.com\nBcc: victim@example.com"))
    mailer.send(_reset_message())
    delivered = inbox.messages if kind == "smtp" else getattr(mailer, "outbox", [])
    assert len(delivered) == 1


def test_mailer_from_settings(tmp_path: Path) -> None:
    assert from_settings(load_settings(data_dir=tmp_path)) is None
    settings = load_settings(
        data_dir=tmp_path,
        smtp_host="smtp.acme.test",
        smtp_port=2525,
        smtp_from="Acme <apis@acme.test>",
        smtp_username="mailer",
        smtp_password=PASSWORD,
    )
    mailer = from_settings(settings)
    assert mailer is not None and (mailer.host, mailer.port, mailer.starttls) == (
        "smtp.acme.test",
        2525,
        True,
    )
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())


def test_smtp_settings_are_checked(tmp_path: Path) -> None:
    from tollway.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="smtp_from is required"):
        load_settings(data_dir=tmp_path, smtp_host="smtp.acme.test")
    with pytest.raises(ConfigurationError, match="smtp_from"):
        load_settings(data_dir=tmp_path, smtp_host="smtp.acme.test", smtp_from="not an address")
