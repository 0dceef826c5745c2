"""Sending through an SMTP server (``TOLLWAY_SMTP_*`` settings).

STARTTLS is required by default: if the server does not offer it, nothing is sent (no
silent fall back to plain text). The password is never logged, never put in an error,
and smtplib's protocol debug output (which would show the AUTH exchange) stays off.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from pydantic import SecretStr

from tollway.settings import Settings

from .message import MailError, MailMessage

log = logging.getLogger("tollway.mail")


class SmtpMailer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: SecretStr | None = None,
        starttls: bool = True,
        timeout_s: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self._password = password
        self.starttls = starttls
        self.timeout_s = timeout_s
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        return f"SmtpMailer(host={self.host!r}, port={self.port}, starttls={self.starttls})"

    def build(self, message: MailMessage) -> EmailMessage:
        """The MIME message: plain text, plus an HTML alternative when there is one."""
        if "\n" in message.to or "\r" in message.to or "@" not in parseaddr(message.to)[1]:
            raise MailError(f"not an email address: {message.to!r}")
        mime = EmailMessage()
        mime["From"] = self.sender
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Date"] = formatdate(localtime=False, usegmt=True)
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or None
        mime["Message-ID"] = make_msgid(domain=domain)
        mime.set_content(message.text)
        if message.html is not None:
            mime.add_alternative(message.html, subtype="html")
        return mime

    def send(self, message: MailMessage) -> None:
        mime = self.build(message)
        where = f"{self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                smtp.ehlo()
                if self.starttls:
                    if not smtp.has_extn("starttls"):
                        raise MailError(
                            f"the SMTP server {where} does not offer STARTTLS; nothing was "
                            "sent (set TOLLWAY_SMTP_STARTTLS=false only for a local relay)"
                        )
                    smtp.starttls(context=self._ssl_context or ssl.create_default_context())
                    smtp.ehlo()
                if self.username:
                    self._login(smtp, where)
                smtp.send_message(mime)
        except (smtplib.SMTPException, OSError) as exc:
            reason = exc.__class__.__name__
            raise MailError(f"could not send email through {where} ({reason})") from None
        log.info("email sent", extra={"smtp_server": where, "subject": message.subject})

    def _login(self, smtp: smtplib.SMTP, where: str) -> None:
        secret = self._password.get_secret_value() if self._password else ""
        try:
            smtp.login(self.username or "", secret)
        except smtplib.SMTPException:  # refused, or the server hung up after refusing
            raise MailError(f"the SMTP server {where} refused the username or password") from None


def from_settings(
    settings: Settings, *, ssl_context: ssl.SSLContext | None = None
) -> SmtpMailer | None:
    """The configured mailer, or ``None`` when ``TOLLWAY_SMTP_HOST`` is not set."""
    if not settings.smtp_host or not settings.smtp_from:
        return None
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        timeout_s=settings.smtp_timeout_s,
        ssl_context=ssl_context,
    )
