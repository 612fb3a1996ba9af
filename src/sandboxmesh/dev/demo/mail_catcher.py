"""A real SMTP server for development, the demo and the tests: it delivers nothing onward.

aiosmtpd listens on a loopback port in a thread of its own and keeps every mail it receives,
in memory and (given a directory) in a Maildir that any mail reader opens (`mutt -f DIR`), one
file per mail under `DIR/new/`. The control plane talks to it as to any SMTP server
(`SANDBOXMESH_MAIL__SMTP_HOST`, `..._PORT`, `..._SMTP_SECURITY=none`).
"""

from __future__ import annotations

import email
import email.policy
import logging
import mailbox
import re
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

log = logging.getLogger(__name__)

_LINK = re.compile(r"https?://\S+")


class _Keep:
    """aiosmtpd's handler: keeps each mail and wakes whoever waits for one."""

    def __init__(self, maildir: Path | None) -> None:
        self.messages: list[EmailMessage] = []
        self.arrived = threading.Condition()
        self.maildir = mailbox.Maildir(maildir, create=True) if maildir is not None else None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if self.maildir is not None:
            self.maildir.add(envelope.content)
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()
        # Who and what, never the body: it holds links that open accounts.
        log.info("mail caught: to %s: %s", ", ".join(envelope.rcpt_tos), message["Subject"])
        return "250 Message accepted for delivery"


class MailCatcher:
    def __init__(self, *, host: str = "127.0.0.1", port: int, maildir: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.maildir = maildir
        self._keep = _Keep(maildir)
        self._controller = Controller(self._keep, hostname=host, port=port)

    def start(self) -> MailCatcher:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self._keep.arrived:
            return list(self._keep.messages)

    def to(self, address: str) -> list[EmailMessage]:
        """The mails received for `address`, oldest first."""
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def wait_for(self, address: str, *, count: int = 1, timeout: float = 10.0) -> EmailMessage:
        """The `count`-th mail to `address` (the first by default), once it has arrived."""
        deadline = time.monotonic() + timeout
        with self._keep.arrived:
            while True:
                received = self.to(address)
                if len(received) >= count:
                    return received[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"no mail #{count} to {address} within {timeout}s "
                        f"(received: {[str(m['To']) for m in self._keep.messages]})"
                    )
                self._keep.arrived.wait(left)


def body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "the mail has no text part"
    content: str = part.get_content()
    return content


def links_in(message: EmailMessage) -> list[str]:
    return _LINK.findall(body(message))
