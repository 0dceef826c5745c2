"""The message type, the ``Mailer`` seam, the in-memory mailer and template rendering.

A template ``NAME`` is three files in ``tollway/mail/templates``: ``NAME.subject.txt``
(one line), ``NAME.txt`` (the plain-text body, always sent) and ``NAME.html`` (optional
HTML alternative, autoescaped). Every template gets ``brand_name`` besides its context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateNotFound

from tollway.domain.errors import TollwayError


class MailError(TollwayError):
    """An email could not be sent (server unreachable, refused, misconfigured)."""

    status = 502
    title = "Email not sent"
    type_slug = "mail-failed"


@dataclass(frozen=True, slots=True)
class MailMessage:
    to: str
    subject: str
    text: str
    html: str | None = None


class Mailer(Protocol):
    def send(self, message: MailMessage) -> None:
        """Deliver ``message`` or raise :class:`MailError`."""
        ...


@dataclass
class MemoryMailer:
    """A mailer that keeps every message (for tests and for running without SMTP)."""

    outbox: list[MailMessage] = field(default_factory=list)

    def send(self, message: MailMessage) -> None:
        if "\n" in message.to or "\r" in message.to or "@" not in message.to:
            raise MailError(f"not an email address: {message.to!r}")
        self.outbox.append(message)


def _environment(autoescape: bool) -> Environment:
    return Environment(
        loader=PackageLoader("tollway.mail", "templates"),
        autoescape=autoescape,  # noqa: S701 - off only for the plain-text subject and body
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


_TEXT = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


def render(
    name: str, *, to: str, brand_name: str, context: Mapping[str, Any] | None = None
) -> MailMessage:
    """The message ``name`` for ``to``, rendered with ``context``."""
    values = {"brand_name": brand_name, **(context or {})}
    subject = _TEXT.get_template(f"{name}.subject.txt").render(values)
    subject = " ".join(subject.split())  # one line: no header injection through a value
    text = _TEXT.get_template(f"{name}.txt").render(values)
    try:
        html: str | None = _HTML.get_template(f"{name}.html").render(values)
    except TemplateNotFound:
        html = None
    return MailMessage(to=to, subject=subject, text=text, html=html)
