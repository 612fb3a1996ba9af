"""The demo's control plane: `sandboxmesh server` on SQLite with a bootstrapped organisation,
mailing to a local SMTP server whose mails land in a Maildir the demo names."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from sandboxmesh.cli.errors import CliError
from sandboxmesh.client import ClientConfig, ControlPlaneClient, endpoints
from sandboxmesh.dev.demo.mail_catcher import MailCatcher
from sandboxmesh.dev.processes import (
    ManagedProcess,
    NotReadyInTime,
    ProcessFailed,
    free_port,
    wait_until_ready,
)

DEMO_ORG = "demo"
DEMO_EMAIL = "demo@example.com"
DEMO_CLUSTER = "local"
READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class DemoControlPlane:
    url: str
    token: str
    #: The owner's portal password, generated for this run.
    password: str
    cluster_token: str
    log: Path
    #: Every mail the portal sends (address confirmations, invitations), one file each in
    #: `mail_dir/new/`.
    mail_dir: Path


def _sandboxmesh(*args: str) -> list[str]:
    return [sys.executable, "-m", "sandboxmesh", *args]


@contextmanager
def control_plane(workdir: Path, *, host: str, port: int) -> Iterator[DemoControlPlane]:
    """A fresh control plane (its database is recreated) until the block ends."""
    database = workdir / "controlplane.db"
    for stale in (database, database.with_suffix(".db-wal"), database.with_suffix(".db-shm")):
        stale.unlink(missing_ok=True)
    database_url = f"sqlite:///{database}"
    url = f"http://{host}:{port}"
    env = {**os.environ, "SANDBOXMESH_HOME": str(workdir.parent)}
    password = secrets.token_urlsafe(15)
    token = _bootstrap(workdir, env, database_url, password)
    mail_dir = workdir / "mail"
    shutil.rmtree(mail_dir, ignore_errors=True)
    log = workdir / "controlplane.log"
    log.unlink(missing_ok=True)
    with MailCatcher(port=free_port(), maildir=mail_dir) as catcher:
        env |= {
            "SANDBOXMESH_PUBLIC_URL": url,
            "SANDBOXMESH_MAIL__SMTP_HOST": catcher.host,
            "SANDBOXMESH_MAIL__SMTP_PORT": str(catcher.port),
            "SANDBOXMESH_MAIL__SMTP_SECURITY": "none",
        }
        # In a session of its own: Ctrl-C reaches the demo alone, which stops the server in
        # its turn.
        server = ManagedProcess(
            "the control plane",
            _sandboxmesh(
                "server", "--database-url", database_url, "--host", host, "--port", str(port)
            ),
            log,
            env=env,
        )
        try:
            server.start()
            _wait_ready(url, server)
            with ControlPlaneClient(ClientConfig(url, token, timeout=10)) as client:
                registered = client.send(endpoints.register_cluster(DEMO_CLUSTER))
            yield DemoControlPlane(
                url=url,
                token=token,
                password=password,
                cluster_token=registered.token,
                log=log,
                mail_dir=mail_dir,
            )
        finally:
            server.stop(timeout=20)


def _bootstrap(workdir: Path, env: dict[str, str], database_url: str, password: str) -> str:
    """The demo organisation and its owner (a portal account with `password`); the owner's
    API token."""
    password_file = workdir / ".portal-password"
    password_file.unlink(missing_ok=True)
    with os.fdopen(os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(password)
    try:
        booted = subprocess.run(
            _sandboxmesh(
                "admin",
                "bootstrap",
                "--org",
                DEMO_ORG,
                "--email",
                DEMO_EMAIL,
                "--password-file",
                str(password_file),
                "--database-url",
                database_url,
                "-o",
                "json",
            ),
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        password_file.unlink(missing_ok=True)
    if booted.returncode != 0:
        raise CliError(f"bootstrapping the demo organisation failed: {booted.stderr.strip()}")
    token: str = json.loads(booted.stdout)["token"]
    return token


def _wait_ready(url: str, server: ManagedProcess) -> None:
    try:
        wait_until_ready(
            f"the control plane at {url}",
            lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200,
            deadline=time.monotonic() + READY_TIMEOUT,
            watched=[server],
            interval=0.2,
        )
    except ProcessFailed as error:
        tail = server.log_tail().replace("\n", " | ")[-500:]
        raise CliError(f"the control plane exited (see {server.log_path}): {tail}") from error
    except NotReadyInTime as error:
        raise CliError(
            f"the control plane did not become ready within {READY_TIMEOUT:g}s"
        ) from error
