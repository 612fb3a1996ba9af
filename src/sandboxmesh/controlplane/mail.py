"""The portal's mail, handed to an SMTP server (aiosmtplib): address confirmations, invitations.

A mail is plain text. Sending happens after the transaction that made its link committed, so
a mail is never sent for a link that does not exist; a mail that cannot be sent leaves that
link unused, and it expires (nobody else ever saw it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import aiosmtplib

from sandboxmesh.controlplane.settings import MailSettings, SmtpSecurity

log = logging.getLogger(__name__)


class MailNotSent(Exception):
    """The SMTP server could not be reached, or refused the mail."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


class SmtpMailer:
    """Sends through the configured SMTP server; the password file is read once, at start."""

    def __init__(self, settings: MailSettings) -> None:
        if settings.smtp_host is None:
            raise ValueError("no SMTP host configured")
        self.settings = settings
        self._host = settings.smtp_host
        self._password: str | None = None
        if settings.smtp_password_file is not None:
            try:
                self._password = settings.smtp_password_file.read_text().removesuffix("\n")
            except OSError as error:
                raise ValueError(
                    f"mail.smtp_password_file {settings.smtp_password_file}: "
                    f"{error.strerror or error}"
                ) from error
        self._domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "localhost"

    def message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self._domain)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(mail.text)
        return message

    async def send(self, mail: Mail) -> None:
        settings = self.settings
        try:
            await aiosmtplib.send(
                self.message(mail),
                hostname=self._host,
                port=settings.smtp_port,
                use_tls=settings.smtp_security is SmtpSecurity.TLS,
                start_tls=settings.smtp_security is SmtpSecurity.STARTTLS,
                username=settings.smtp_user,
                password=self._password,
                timeout=settings.timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            # The recipient is personal data, the link a secret: neither goes to the log.
            log.warning(
                "sending mail failed: %s: %s",
                type(error).__name__,
                error,
                extra={"host": self._host},
            )
            raise MailNotSent(str(error)) from error
        log.info("mail sent", extra={"subject": mail.subject, "host": self._host})
