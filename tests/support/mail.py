"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for the tests of
everything that sends email (the mailer, password reset, notifications)."""

from __future__ import annotations

import email
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from tests.support.servers import free_port


class Inbox:
    """The messages (parsed) and envelopes (sender, recipients) the server received."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append(email.message_from_bytes(raw))
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 OK"


@contextmanager
def smtp_server(inbox: Inbox, **options: Any) -> Iterator[int]:
    """Serve ``inbox`` on a free loopback port until the block ends; yields the port.
    ``options`` go to aiosmtpd's ``Controller`` (TLS, authentication...)."""
    options.setdefault("decode_data", False)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        yield int(controller.port)
    finally:
        controller.stop()
