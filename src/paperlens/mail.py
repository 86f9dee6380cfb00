"""Sending mail over real SMTP: one place that knows how to reach the configured server.

Callers build an :class:`email.message.EmailMessage` (multipart HTML + text where it
matters) and hand it to :meth:`Mailer.send`; the mailer sets ``From`` when missing and
speaks plain SMTP, STARTTLS or SMTP over TLS as :class:`~paperlens.config.Settings` say.
Failures surface as :class:`MailError` naming the server and the reason; whether to try
again is the caller's decision (digests retry with back-off, a password reset reports).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

from paperlens.config import Settings


class MailError(RuntimeError):
    """A message could not be handed to the SMTP server."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        #: True when the server refused the recipient or message for good (5xx):
        #: trying again will not help.
        self.permanent = permanent


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @contextmanager
    def connection(self) -> Iterator[smtplib.SMTP]:
        """One SMTP session, for sending several messages without reconnecting."""
        s = self.settings
        where = f"{s.smtp_host}:{s.smtp_port}"
        try:
            smtp: smtplib.SMTP
            if s.smtp_security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    s.smtp_host,
                    s.smtp_port,
                    timeout=s.smtp_timeout,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
                if s.smtp_security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot reach the SMTP server {where}: {exc}") from exc
        try:
            yield smtp
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def send(self, message: EmailMessage, smtp: smtplib.SMTP | None = None) -> None:
        """Send ``message`` (on ``smtp`` if given, else on a new connection)."""
        if "From" not in message:
            message["From"] = self.settings.mail_from
        if smtp is None:
            with self.connection() as conn:
                self._send(conn, message)
        else:
            self._send(smtp, message)

    def _send(self, smtp: smtplib.SMTP, message: EmailMessage) -> None:
        to = message.get("To", "?")
        try:
            refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailError(f"the server refused {to}: {exc.recipients}", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"the server refused the mail to {to}: {exc.smtp_code} {exc.smtp_error!r}",
                permanent=500 <= exc.smtp_code < 600,
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"sending to {to} failed: {exc}") from exc
        if refused:
            raise MailError(f"the server refused {sorted(refused)}", permanent=True)
