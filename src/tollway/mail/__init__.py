"""Email: messages rendered from templates, sent through SMTP (or kept in memory in tests).

The portal's password reset and later notifications use it::

    mailer = smtp.from_settings(settings)            # None when TOLLWAY_SMTP_HOST is unset
    message = render("password_reset", to=email, brand_name=..., context={...})
    mailer.send(message)

``Mailer`` is the seam; :class:`~tollway.mail.smtp.SmtpMailer` is the real one and
:class:`MemoryMailer` keeps what was sent (one contract test runs against both).
"""

from __future__ import annotations

from .message import Mailer, MailError, MailMessage, MemoryMailer, render

__all__ = ["MailError", "MailMessage", "Mailer", "MemoryMailer", "render"]
