"""`sandboxmesh dev mail`: a real SMTP server that keeps what it receives in a Maildir."""

from __future__ import annotations

import signal
import smtplib
import socket
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

from tests.support.eventually import eventually

from sandboxmesh.dev.processes import free_port


def _send(port: int) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "cp@example.com", "ada@example.com", "hi"
    message.set_content("a link: http://127.0.0.1:8080/portal/verify/smv_x_y")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        smtp.send_message(message)


def test_dev_mail_keeps_every_mail_until_stopped(tmp_path: Path) -> None:
    port = free_port()
    maildir = tmp_path / "mail"
    process = subprocess.Popen(
        [sys.executable, "-m", "sandboxmesh", "dev", "mail", "--port", str(port),
         "--maildir", str(maildir)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        eventually(lambda: _accepts(port), timeout=30, what="the SMTP server to accept connections")
        _send(port)
        mail = eventually(
            lambda: next(iter((maildir / "new").iterdir()), None), timeout=10, what="the mail"
        )
        assert "To: ada@example.com" in mail.read_text()
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert f"SANDBOXMESH_MAIL__SMTP_PORT={port}" in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = taken.getsockname()[1]
        busy = subprocess.run(
            [sys.executable, "-m", "sandboxmesh", "dev", "mail", "--port", str(busy_port),
             "--maildir", str(maildir)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    assert busy.returncode != 0
    assert f"cannot listen on 127.0.0.1:{busy_port}" in busy.stderr


def _accepts(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=2):
            return True
    except OSError:
        return False
